package fleet

import "errors"

// ErrInsecureListen is returned by NewServer for a listen address beyond
// loopback without both TLS (--tls-cert, --tls-key) and an access token
// (--token-file).
var ErrInsecureListen = errors.New("a listen address beyond loopback needs --tls-cert, --tls-key and --token-file")
