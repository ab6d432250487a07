package terraform

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fakegcp"
)

func newRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	assert.NilError(t, err)
	return k
}

// saKey is a service account key file as Google issues them (PKCS #8 PEM).
func saKey(t *testing.T, k *rsa.PrivateKey, email, tokenURI string) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	assert.NilError(t, err)
	b, err := json.Marshal(map[string]string{"type": "service_account", "project_id": "p", "private_key_id": "0123abcd",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": email,
		"client_id": "1", "token_uri": tokenURI})
	assert.NilError(t, err)
	return string(b)
}

// computeToken takes the credentials the google provider takes and gets a
// token the fake's Compute API accepts from each kind, through the fake's
// token endpoint, which checks what Google's checks (signature, audience,
// scope, lifetime).
func TestComputeToken(t *testing.T) {
	good := "deployer@p.iam.gserviceaccount.com"
	priv := newRSA(t)
	// The fake knows the account's public key, as Google does.
	f, err := fakegcp.New(fakegcp.Config{RefreshTokens: []string{"1//refresh"}, ServiceAccounts: map[string]*rsa.PublicKey{good: &priv.PublicKey}})
	assert.NilError(t, err)
	run, err := f.Start("")
	assert.NilError(t, err)
	defer run.Close()
	tokenURI := strings.TrimSuffix(run.URL, fakegcp.BasePath) + fakegcp.TokenPath
	key := saKey(t, priv, good, tokenURI)
	stranger := saKey(t, newRSA(t), "stranger@p.iam.gserviceaccount.com", tokenURI)
	// The same account's name with another key pair is a forgery.
	f2 := saKey(t, newRSA(t), good, tokenURI)
	keyFile := filepath.Join(t.TempDir(), "sa.json")
	assert.NilError(t, os.WriteFile(keyFile, []byte(key), 0o600))
	user, _ := json.Marshal(map[string]string{"type": "authorized_user", "client_id": "c.apps.googleusercontent.com", "client_secret": "s", "refresh_token": "1//refresh", "token_uri": tokenURI})
	badUser, _ := json.Marshal(map[string]string{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "1//revoked", "token_uri": tokenURI})
	remote := saKey(t, priv, good, "http://token.example.com/token")

	tests := []struct {
		name     string
		env      map[string]string
		wantFrom string
		wantErr  string
	}{
		{"an access token as is", map[string]string{"GOOGLE_OAUTH_ACCESS_TOKEN": fakegcp.LabToken, "GOOGLE_CREDENTIALS": "{"}, "GOOGLE_OAUTH_ACCESS_TOKEN", ""},
		{"a service account key's JSON", map[string]string{"GOOGLE_CREDENTIALS": key}, "GOOGLE_CREDENTIALS (service account " + good + ")", ""},
		{"a service account key's path", map[string]string{"GOOGLE_CREDENTIALS": keyFile}, "GOOGLE_CREDENTIALS (service account " + good + ")", ""},
		{"application default credentials", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": keyFile}, "GOOGLE_APPLICATION_CREDENTIALS (service account " + good + ")", ""},
		{"gcloud's user credentials", map[string]string{"GOOGLE_CREDENTIALS": string(user)}, "GOOGLE_CREDENTIALS (gcloud user credentials)", ""},

		{"nothing", nil, "", "no Google credentials: set GOOGLE_CREDENTIALS"},
		{"an account the endpoint does not know", map[string]string{"GOOGLE_CREDENTIALS": stranger}, "", "invalid_grant: Invalid JWT: unknown service account stranger@"},
		{"a forged key", map[string]string{"GOOGLE_CREDENTIALS": f2}, "", "invalid_grant: Invalid JWT Signature."},
		{"a revoked refresh token", map[string]string{"GOOGLE_CREDENTIALS": string(badUser)}, "", "(gcloud user credentials): token endpoint"},
		{"a token_uri in the clear", map[string]string{"GOOGLE_CREDENTIALS": remote}, "", "credentials go only over https"},
		{"workload identity federation", map[string]string{"GOOGLE_CREDENTIALS": `{"type":"external_account"}`}, "", `type "external_account" are not supported here`},
		{"a path to nothing", map[string]string{"GOOGLE_CREDENTIALS": "/nonexistent/sa.json"}, "", "GOOGLE_CREDENTIALS names no readable credentials file"},
		{"not JSON", map[string]string{"GOOGLE_CREDENTIALS": "{nope"}, "", "not a credentials JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, from, err := computeToken(context.Background(), func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				assert.Check(t, is.ErrorContains(err, tc.wantErr))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(from, tc.wantFrom))
			// The token opens the Compute API.
			_, err = serialPort(context.Background(), run.URL, tok, instanceRef{Project: "vanixiets-lab", Zone: "us-central1-a", Name: "none"})
			assert.Check(t, is.ErrorContains(err, "404"), "the API took the token and looked for the instance")
		})
	}
}

// The endpoint refuses assertions that are not what Google's library
// signs: a wrong audience, no Compute scope, a long or stale lifetime.
func TestFakeTokenChecksTheAssertion(t *testing.T) {
	email := "deployer@p.iam.gserviceaccount.com"
	priv := newRSA(t)
	f, err := fakegcp.New(fakegcp.Config{ServiceAccounts: map[string]*rsa.PublicKey{email: &priv.PublicKey}})
	assert.NilError(t, err)
	run, err := f.Start("")
	assert.NilError(t, err)
	defer run.Close()
	uri := strings.TrimSuffix(run.URL, fakegcp.BasePath) + fakegcp.TokenPath
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": email, "scope": GCPScope, "aud": uri, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name, want string
		claims     map[string]any
	}{
		{"good", "", claims(nil)},
		{"another audience", "audience", claims(func(c map[string]any) { c["aud"] = "https://oauth2.googleapis.com/token" })},
		{"no Compute scope", "no scope of the Compute API", claims(func(c map[string]any) { c["scope"] = "https://www.googleapis.com/auth/devstorage.read_only" })},
		{"two hours", "short-lived", claims(func(c map[string]any) { c["exp"] = now.Add(2 * time.Hour).Unix() })},
		{"expired", "short-lived", claims(func(c map[string]any) { c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix() })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jwt, err := signJWT(priv, "k", tc.claims)
			assert.NilError(t, err)
			tok, err := postToken(context.Background(), uri, map[string][]string{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {jwt}})
			if tc.want == "" {
				assert.NilError(t, err)
				assert.Check(t, is.Equal(tok, fakegcp.LabToken))
				return
			}
			assert.Check(t, is.ErrorContains(err, "invalid_grant: Invalid JWT"))
			assert.Check(t, is.ErrorContains(err, tc.want))
		})
	}
}
