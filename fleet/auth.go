package fleet

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// minTokenLen bounds how short an access token may be: 16 characters of a
// random token are beyond guessing over HTTP.
const minTokenLen = 16

const cookieName = "edgepm_fleet_session"

// auth checks the access token: an "Authorization: Bearer TOKEN" header,
// or the session cookie the login form sets. The cookie holds an HMAC of
// the token, not the token.
type auth struct {
	token   []byte
	session string
	secure  bool // cookie only over HTTPS
}

func loadAuth(path string, secure bool) (*auth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet serve: --token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minTokenLen {
		return nil, fmt.Errorf("fleet serve: --token-file %s: the token has %d characters, at least %d needed", path, len(tok), minTokenLen)
	}
	mac := hmac.New(sha256.New, []byte(tok))
	mac.Write([]byte("edgepm fleet console session v1"))
	return &auth{token: []byte(tok), session: hex.EncodeToString(mac.Sum(nil)), secure: secure}, nil
}

func (a *auth) ok(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return subtle.ConstantTimeCompare([]byte(strings.TrimPrefix(h, "Bearer ")), a.token) == 1
	}
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.session)) == 1
}

// require lets a request through with a valid token or session; else it
// answers 401 (the login form for a page, a short text for the API). The
// page's static assets (/ui/) hold no fleet data and need no token. A nil
// auth lets everything through.
func (a *auth) require(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/ui/") || a.ok(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="edgepm fleet"`)
		if strings.HasPrefix(r.URL.Path, "/api/") {
			http.Error(w, "access token needed (Authorization: Bearer, or log in at /login)", http.StatusUnauthorized)
			return
		}
		writeLoginForm(w, http.StatusUnauthorized, "")
	})
}

func (a *auth) form(w http.ResponseWriter, _ *http.Request) {
	writeLoginForm(w, http.StatusOK, "")
}

// login checks the posted token and sets the session cookie. It changes
// nothing else.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	tok := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), a.token) != 1 {
		writeLoginForm(w, http.StatusUnauthorized, "wrong token")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: a.session, Path: "/", HttpOnly: true,
		Secure: a.secure, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func writeLoginForm(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if msg != "" {
		msg = `<p class="bad">` + msg + `</p>`
	}
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>edgepm fleet: log in</title>
<link rel="stylesheet" href="ui/app.css"></head><body><h1>edgepm fleet</h1>%s
<form method="post" action="login"><label>Access token <input type="password" name="token" autofocus></label>
<button type="submit">Log in</button></form></body></html>
`, msg)
}
