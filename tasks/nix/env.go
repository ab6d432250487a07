package nix

import "os"

// Config returns the NIX_CONFIG the suite runs every nix process with:
// DefaultConfig, then $VANIXIETS_NIX_CONFIG (later lines win). It is the one
// answer for drivers, the overlay check's nix-instantiate, the real fleet's
// offline evaluation and tests alike, so that nothing depends on what a
// machine's /etc/nix/nix.conf happens to say (a brand-new machine has the
// Debian default, whose build-users-group names a group that does not exist).
func Config() string {
	cfg := DefaultConfig
	if extra := os.Getenv("VANIXIETS_NIX_CONFIG"); extra != "" {
		cfg += "\n" + extra
	}
	return cfg
}

// Environ is the process environment for a nix command run outside the
// driver (nix-instantiate, nix-store): NIX_CONFIG replaced by Config() and
// colour turned off, so messages parse the same everywhere.
func Environ() []string {
	return append((&Nix{Config: Config()}).Env(), "NO_COLOR=1")
}
