package terraform

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The Compute API's bearer token, from the credentials a user of the google
// provider already has.
//
// The deploy reads a new instance's console (ConsoleHostKeys) with the same
// credentials terraform used to create it, in the order the provider takes
// them: GOOGLE_OAUTH_ACCESS_TOKEN, a token as is; else GOOGLE_CREDENTIALS
// (a key's JSON or the path to it; the flake's sops secret gcp-credentials
// is put there) or GOOGLE_APPLICATION_CREDENTIALS (a path). A service
// account key is exchanged for a token by the OAuth 2 JWT-bearer grant
// (RFC 7523: a JWT signed with the key, sent to the key's token_uri), and
// gcloud's application-default user credentials by the refresh-token grant;
// both are what Google's own client libraries do, written out here rather
// than imported (golang.org/x/oauth2/google and its metadata client, for
// two POSTs). Workload identity federation (external_account) is not
// supported: the error says to pass a token.

// GCPScope is the scope the token is asked for: Compute Engine reads.
const GCPScope = "https://www.googleapis.com/auth/cloud-platform"

// defaultTokenURI is Google's token endpoint, for credentials that name none.
const defaultTokenURI = "https://oauth2.googleapis.com/token"

// gcpCredentials is the JSON of a credentials file: a service account key
// or gcloud's authorized_user credentials.
type gcpCredentials struct {
	Type string `json:"type"`
	// service_account
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
	// authorized_user
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

// computeToken returns a bearer token for the Compute API from the
// variables get reads (the session's, then the process's), and where it
// came from for messages. No credential at all is an error saying what to
// set.
func computeToken(ctx context.Context, get func(string) string) (token, from string, err error) {
	if t := get("GOOGLE_OAUTH_ACCESS_TOKEN"); t != "" {
		return t, "GOOGLE_OAUTH_ACCESS_TOKEN", nil
	}
	name, v := "GOOGLE_CREDENTIALS", get("GOOGLE_CREDENTIALS")
	if v == "" {
		name, v = "GOOGLE_APPLICATION_CREDENTIALS", get("GOOGLE_APPLICATION_CREDENTIALS")
	}
	if v == "" {
		return "", "", errors.New("no Google credentials: set GOOGLE_CREDENTIALS to a service account key (its JSON or its path; the flake's sops secret gcp-credentials goes there), or GOOGLE_OAUTH_ACCESS_TOKEN (gcloud auth print-access-token)")
	}
	b := []byte(v)
	if !strings.HasPrefix(strings.TrimSpace(v), "{") {
		if b, err = os.ReadFile(v); err != nil {
			return "", "", fmt.Errorf("%s names no readable credentials file: %v", name, err)
		}
	}
	defer clear(b)
	var c gcpCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return "", "", fmt.Errorf("%s: not a credentials JSON: %v", name, err)
	}
	switch c.Type {
	case "service_account":
		t, err := serviceAccountToken(ctx, c, time.Now())
		if err != nil {
			return "", "", fmt.Errorf("%s (service account %s): %w", name, c.ClientEmail, err)
		}
		return t, name + " (service account " + c.ClientEmail + ")", nil
	case "authorized_user":
		t, err := refreshToken(ctx, c)
		if err != nil {
			return "", "", fmt.Errorf("%s (gcloud user credentials): %w", name, err)
		}
		return t, name + " (gcloud user credentials)", nil
	default:
		return "", "", fmt.Errorf("%s: credentials of type %q are not supported here (service_account and authorized_user are): set GOOGLE_OAUTH_ACCESS_TOKEN instead (gcloud auth print-access-token)", name, c.Type)
	}
}

// serviceAccountToken exchanges a service account key for an access token:
// a JWT asserting the account, for GCPScope, signed RS256 with the key,
// posted to the key's token_uri.
func serviceAccountToken(ctx context.Context, c gcpCredentials, now time.Time) (string, error) {
	if c.ClientEmail == "" || c.PrivateKey == "" {
		return "", errors.New("the key has no client_email or private_key")
	}
	key, err := parseRSAKey(c.PrivateKey)
	if err != nil {
		return "", err
	}
	aud := c.TokenURI
	if aud == "" {
		aud = defaultTokenURI
	}
	if err := checkTokenURI(aud); err != nil {
		return "", err
	}
	jwt, err := signJWT(key, c.PrivateKeyID, map[string]any{
		"iss": c.ClientEmail, "scope": GCPScope, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		return "", err
	}
	return postToken(ctx, aud, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {jwt}})
}

// refreshToken trades gcloud's refresh token for an access token.
func refreshToken(ctx context.Context, c gcpCredentials) (string, error) {
	if c.ClientID == "" || c.ClientSecret == "" || c.RefreshToken == "" {
		return "", errors.New("the credentials have no client_id, client_secret or refresh_token (gcloud auth application-default login writes them)")
	}
	uri := c.TokenURI
	if uri == "" {
		uri = defaultTokenURI
	}
	if err := checkTokenURI(uri); err != nil {
		return "", err
	}
	return postToken(ctx, uri, url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID},
		"client_secret": {c.ClientSecret}, "refresh_token": {c.RefreshToken}})
}

// checkTokenURI refuses to send a signed assertion or a refresh token in
// the clear: https, or http to this machine only (a local fake).
func checkTokenURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("token_uri %q: %v", s, err)
	}
	if u.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		return nil
	}
	return fmt.Errorf("token_uri %q: credentials go only over https (or to this machine)", s)
}

// parseRSAKey reads a service account's private key: PEM, PKCS #8 as
// Google issues them, or PKCS #1.
func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("private_key is no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("private_key is a %T, want RSA", k)
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private_key: %v", err)
	}
	return k, nil
}

// signJWT makes a compact JWS, RS256.
func signJWT(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	hdr := map[string]string{"alg": "RS256", "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// postToken posts a grant to a token endpoint and returns the access token
// it answers, or its error ("invalid_grant: ...").
func postToken(ctx context.Context, uri string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var r struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &r)
	if resp.StatusCode != http.StatusOK || r.AccessToken == "" {
		if r.Error != "" {
			return "", fmt.Errorf("token endpoint %s: %s: %s", uri, r.Error, r.Description)
		}
		return "", fmt.Errorf("token endpoint %s: %s: %s", uri, resp.Status, strings.TrimSpace(string(body)))
	}
	return r.AccessToken, nil
}
