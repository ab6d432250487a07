package terraform

import (
	"errors"
	"fmt"
	"os"
)

// StateEnv names the encrypted state explicitly; StateNewEnv=1 says a new,
// empty state is to start at that path.
const (
	StateEnv    = "VANIXIETS_TF_STATE"
	StateNewEnv = "VANIXIETS_TF_STATE_NEW"
)

// CheckStatePath decides whether an explicitly named state path may be
// used. A missing file there is refused: terraform would start from an
// empty state, plan to create every server that exists, and apply would
// create them again (a typo in VANIXIETS_TF_STATE once did exactly that).
// Starting a new state at a new path is said with VANIXIETS_TF_STATE_NEW=1.
// The default path (StateFileFor) needs no such care: a fleet that was
// never applied has no state there yet.
func CheckStatePath(path string, getenv func(string) string) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return errors.New("is a directory: name the state file (terraform.tfstate.age) in it")
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if v := getenv(StateNewEnv); v == "1" || v == "true" {
		return nil
	}
	return fmt.Errorf("no such state file: terraform would start empty and create existing servers again; check the path, unset %s for the flake's own state, or set %s=1 to start a new state there", StateEnv, StateNewEnv)
}

// ResolveStateFile is the state file a command on flake ("" for
// DefaultFlake) works on: $VANIXIETS_TF_STATE when set (it must pass
// CheckStatePath), else StateFileFor(flake). It is for front doors: the
// library's Options never read the environment, so a caller that names no
// StateFile gets the flake's own state, whatever the shell exports.
func ResolveStateFile(flake string) (string, error) {
	if flake == "" {
		flake = DefaultFlake()
	}
	if p := os.Getenv(StateEnv); p != "" {
		if err := CheckStatePath(p, os.Getenv); err != nil {
			return "", fmt.Errorf("%s=%s: %w", StateEnv, p, err)
		}
		return p, nil
	}
	return StateFileFor(flake), nil
}
