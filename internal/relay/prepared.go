package relay

// serverStmts is the set of statements prepared on one server, in least
// recently used order, for eviction. Guarded by the server's lock.
type serverStmts struct {
	m          map[string]*stmtNode
	head, tail *stmtNode // head: most recently used
	closing    []string  // retired statements to Close at the next run
}

type stmtNode struct {
	name, query string
	parsed      uint64 // when the server parsed it (SchemaClock.next)
	uses        int64  // how many times clients used it on this server
	prev, next  *stmtNode
}

// touch marks name used and reports whether the server has it.
func (p *serverStmts) touch(name string) bool {
	n := p.m[name]
	if n == nil {
		return false
	}
	n.uses++
	p.unlink(n)
	p.pushFront(n)
	return true
}

// fresh marks name used and reports whether the server has it parsed no
// earlier than since (see schema.go).
func (p *serverStmts) fresh(name string, since uint64) bool {
	if n := p.m[name]; n == nil || n.parsed < since {
		return false
	}
	return p.touch(name)
}

// has reports whether the server has name, however old.
func (p *serverStmts) has(name string) bool { return p.m[name] != nil }

// add records that the server has name, parsed at parsed (most recently
// used).
func (p *serverStmts) add(name, query string, parsed uint64) {
	if p.m == nil {
		p.m = make(map[string]*stmtNode)
	}
	if n := p.m[name]; n != nil {
		n.parsed = parsed
		p.unlink(n)
		p.pushFront(n)
		return
	}
	n := &stmtNode{name: name, query: query, parsed: parsed, uses: 1}
	p.m[name] = n
	p.pushFront(n)
}

// remove forgets name (its Parse failed, or it was evicted).
func (p *serverStmts) remove(name string) {
	if n := p.m[name]; n != nil {
		p.unlink(n)
		delete(p.m, name)
	}
}

// retire forgets name and schedules a Close for it: the server still has
// the statement but it must not be used again (its cached plan changed).
func (p *serverStmts) retire(name string) {
	if _, ok := p.m[name]; ok {
		p.remove(name)
		p.closing = append(p.closing, name)
	}
}

// takeClosing returns the retired statements to Close now.
func (p *serverStmts) takeClosing() []string {
	c := p.closing
	p.closing = nil
	return c
}

// full reports whether a new statement needs room (max 0 = unlimited).
func (p *serverStmts) full(max int) bool { return max > 0 && len(p.m) >= max }

// oldest is the least recently used statement.
func (p *serverStmts) oldest() string { return p.tail.name }

// clear forgets everything (DISCARD ALL ran on the server).
func (p *serverStmts) clear() {
	p.m, p.head, p.tail, p.closing = nil, nil, nil, nil
}

// list returns the statements, most recently used first.
func (p *serverStmts) list() []PreparedStatement {
	out := make([]PreparedStatement, 0, len(p.m))
	for n := p.head; n != nil; n = n.next {
		out = append(out, PreparedStatement{Name: n.name, Query: n.query, Uses: n.uses})
	}
	return out
}

func (p *serverStmts) pushFront(n *stmtNode) {
	n.prev, n.next = nil, p.head
	if p.head != nil {
		p.head.prev = n
	}
	p.head = n
	if p.tail == nil {
		p.tail = n
	}
}

func (p *serverStmts) unlink(n *stmtNode) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		p.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		p.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

// PreparedStatement is one statement prepared on a server, for the console.
type PreparedStatement struct {
	Name  string // the content name on the server
	Query string
	Uses  int64 // times clients used it on this server (prepared included)
}

// PreparedStatements lists the statements prepared on the server by the
// pooler (SHOW SERVER_PREP_STMTS).
func (s *Server) PreparedStatements() []PreparedStatement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prepared.list()
}
