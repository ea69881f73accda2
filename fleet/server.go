package fleet

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ui is the console page: index.html, app.js, app.css. Embedded, so the
// page needs no network access beyond the console.
//
//go:embed ui
var ui embed.FS

// ServerConfig configures the console's HTTP server.
type ServerConfig struct {
	// Listen is host:port. Default 127.0.0.1:9520.
	Listen string
	// TLSCert and TLSKey are PEM files; both or neither.
	TLSCert, TLSKey string
	// TokenFile holds the access token (at least 16 characters). When
	// set, every request but the login needs it.
	TokenFile string
}

// DefaultListen is the console's default address.
const DefaultListen = "127.0.0.1:9520"

// Server is the read-only web console: the page, /api/fleet and /healthz.
// No endpoint changes anything: any method but GET and HEAD gets 405, except
// POST /login, which only checks the token and sets the session cookie.
type Server struct {
	view  *View
	auth  *auth // nil: no token configured (loopback only)
	srv   *http.Server
	ln    net.Listener
	https bool
	log   *slog.Logger
}

// NewServer checks cfg and listens. A listen address that is not loopback
// without TLS and a token file is refused with ErrInsecureListen before
// anything is served.
func NewServer(cfg ServerConfig, view *View, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	tc, a, err := cfg.security()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("fleet serve: listen %s: %w", cfg.Listen, err)
	}
	if !isLoopback(ln.Addr()) && (tc == nil || a == nil) {
		ln.Close()
		return nil, fmt.Errorf("fleet serve: --listen %s: %w", cfg.Listen, ErrInsecureListen)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	s := &Server{view: view, auth: a, ln: ln, https: tc != nil, log: log}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	return s, nil
}

// security loads the TLS key pair and the token file cfg names.
func (cfg ServerConfig) security() (*tls.Config, *auth, error) {
	var tc *tls.Config
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, nil, errors.New("fleet serve: --tls-cert and --tls-key go together")
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("fleet serve: --tls-cert/--tls-key: %w", err)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	if cfg.TokenFile == "" {
		return tc, nil, nil
	}
	a, err := loadAuth(cfg.TokenFile, tc != nil)
	return tc, a, err
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.https }

// Serve serves until ctx ends, then shuts down within 5 s. It blocks.
func (s *Server) Serve(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s.ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("fleet serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/fleet", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.view.Snapshot())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, ui, "ui/index.html")
	})
	mux.Handle("GET /ui/", http.FileServerFS(ui))
	if s.auth != nil {
		mux.HandleFunc("POST /login", s.auth.login)
		mux.HandleFunc("GET /login", s.auth.form)
	}
	return readOnly(s.auth.require(mux), s.auth != nil)
}

// readOnly answers 405 to any method but GET and HEAD (and, with a token,
// POST /login, which changes nothing but the client's cookie), and sets headers that
// keep the page from being framed or loading anything from elsewhere.
func readOnly(next http.Handler, login bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !(login && r.Method == http.MethodPost && r.URL.Path == "/login") {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the fleet console is read-only: promote and abort are `edgepm model` commands", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}
