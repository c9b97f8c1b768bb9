package relay

import "crypto/tls"

// TLSState returns the TLS state of the client's connection, or nil when
// it is plain text (the console's tls column).
func (c *Client) TLSState() *tls.ConnectionState {
	if tc, ok := c.conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}
