package proxy

import "errors"

var (
	// ErrProxyURL is returned by New for a proxy URL that is not
	// http://[user:password@]host[:port].
	ErrProxyURL = errors.New("proxy: bad proxy URL")
	// ErrRefused is returned when the proxy answers CONNECT with a status
	// other than 2xx; the error text carries the status.
	ErrRefused = errors.New("proxy: CONNECT refused")
	// ErrReply is returned when the proxy's reply is not an HTTP response
	// or is larger than MaxReply.
	ErrReply = errors.New("proxy: malformed reply to CONNECT")
)
