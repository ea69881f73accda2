package edge

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ui is the status page: index.html, its script and style, and the
// vendored uPlot (ui/vendor/uplot, MIT, with its LICENSE). Embedded, so the
// page works without network access.
//
//go:embed ui
var ui embed.FS

// httpServer serves /healthz, /readyz, /metrics, /api/status, /api/history
// and the status page (/ and its assets under /ui/) on a local port.
type httpServer struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

func newHTTPServer(cfg HTTPConfig, gather prometheus.Gatherer, app *App, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, conditions := app.readiness()
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "conditions": conditions})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(app.Status())
	})
	mux.HandleFunc("GET /api/history", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(app.History())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, ui, "ui/index.html")
	})
	mux.Handle("GET /ui/", http.FileServerFS(ui))
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	s := &httpServer{ln: ln, log: log, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      60 * time.Second, // a 30 s CPU profile
	}}
	return s, nil
}

// Addr is the address the server listens on.
func (s *httpServer) Addr() string { return s.ln.Addr().String() }

func (s *httpServer) serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("http server stopped", "err", err)
	}
}

func (s *httpServer) shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}
