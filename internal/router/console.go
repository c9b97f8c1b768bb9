package router

// DropServersOf is DropServers for the routes of one database (the
// console's RECONNECT db). It reports whether any route serves db.
func (r *Router) DropServersOf(db string) bool {
	found := false
	for _, rt := range r.Routes() {
		if rt.DB == db {
			rt.dropServers()
			found = true
		}
	}
	return found
}
