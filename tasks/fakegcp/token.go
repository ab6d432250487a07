package fakegcp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// TokenPath is the fake's OAuth 2 token endpoint: a service account key
// whose token_uri is the fake's URL plus TokenPath is exchanged here, as at
// Google's, for the fake's access token (Config.Token).
const TokenPath = "/token"

// token answers a token request as Google's endpoint does: the JWT-bearer
// grant (RFC 7523) of a service account the fake knows
// (Config.ServiceAccounts), its RS256 signature checked with the account's
// public key, its audience this endpoint, its scope one the Compute API
// takes and its lifetime an hour at most; or the refresh-token grant of
// gcloud's user credentials (Config.RefreshTokens). Anything else is
// refused with OAuth's error body. Calls counts the tokens given, as
// "POST token <grant_type>".
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, why string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": why})
	}
	if r.Method != http.MethodPost {
		refuse("invalid_request", "POST the grant")
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse("invalid_request", err.Error())
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if why := f.checkAssertion(r.PostForm.Get("assertion"), "http://"+r.Host+TokenPath, time.Now()); why != "" {
			refuse("invalid_grant", why)
			return
		}
	case "refresh_token":
		if !slices.Contains(f.cfg.RefreshTokens, r.PostForm.Get("refresh_token")) || r.PostForm.Get("client_id") == "" {
			refuse("invalid_grant", "Bad Request")
			return
		}
	default:
		refuse("unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	f.reqs.Count("POST token " + r.PostForm.Get("grant_type"))
	writeJSON(w, http.StatusOK, map[string]any{"access_token": f.cfg.Token, "expires_in": 3599, "token_type": "Bearer"})
}

// checkAssertion returns why a JWT-bearer assertion is refused ("" when it
// is good).
func (f *Fake) checkAssertion(jwt, aud string, now time.Time) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "Invalid JWT: not a compact JWS"
	}
	enc := base64.RawURLEncoding
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	h, err1 := enc.DecodeString(parts[0])
	c, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(h, &hdr) != nil || json.Unmarshal(c, &claims) != nil {
		return "Invalid JWT: undecodable"
	}
	if hdr.Alg != "RS256" {
		return "Invalid JWT: alg " + hdr.Alg + ", want RS256"
	}
	pub, ok := f.cfg.ServiceAccounts[claims.Iss]
	if !ok {
		return "Invalid JWT: unknown service account " + claims.Iss
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return "Invalid JWT Signature."
	}
	if claims.Aud != aud {
		return "Invalid JWT: audience " + claims.Aud + ", want " + aud
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, "https://www.googleapis.com/auth/cloud-platform") && !slices.Contains(scopes, "https://www.googleapis.com/auth/compute") && !slices.Contains(scopes, "https://www.googleapis.com/auth/compute.readonly") {
		return "Invalid JWT: no scope of the Compute API in " + claims.Scope
	}
	if t := now.Unix(); claims.Iat > t+60 || claims.Exp <= t || claims.Exp-claims.Iat > 3600 {
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
	}
	return ""
}
