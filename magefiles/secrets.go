//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/vanixiets/vanixiets/tasks/secrets"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// Secrets holds sops-nix user secrets: secrets/users/<user>.sops.yaml and
// the .sops.yaml the suite generates from the fleet.
type Secrets mg.Namespace

func openSecrets(ctx context.Context) (*secrets.Store, error) {
	ref, f, err := loadFleet(ctx)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(ref); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("flake %s is not a local directory: secrets live in its secrets/users", ref)
	}
	return &secrets.Store{Fleet: f, Dir: ref}, nil
}

// Rules writes .sops.yaml from the fleet (one creation rule per user: the
// user's age keys and the admins of their machines). --check writes
// nothing and fails when the file is stale (CI).
func (Secrets) Rules(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	s, err := openSecrets(ctx)
	if err != nil {
		return err
	}
	if boolFlag("check") {
		if err := s.RulesStale(); err != nil {
			return err
		}
		fmt.Printf("secrets: %s/%s is current\n", s.Dir, secrets.RulesFile)
		return nil
	}
	wrote, err := s.WriteRules()
	if err != nil {
		return err
	}
	fmt.Printf("secrets: %s/%s %s\n", s.Dir, secrets.RulesFile, map[bool]string{true: "written", false: "already current"}[wrote])
	return nil
}

// Edit decrypts <user>'s secrets into a private temporary file, opens
// $EDITOR, and re-encrypts what was saved (unchanged values keep their
// ciphertext). If the editor fails the file stays as it was.
func (Secrets) Edit(ctx context.Context, user string) (err error) {
	defer explained(ctx, &err)
	s, err := openSecrets(ctx)
	if err != nil {
		return err
	}
	changed, err := s.Edit(user, strings.Fields(os.Getenv("EDITOR")))
	if err != nil {
		return err
	}
	fmt.Printf("secrets: %s %s\n", secrets.UserFile(user), map[bool]string{true: "updated", false: "unchanged"}[changed])
	return nil
}

// Updatekeys re-wraps every user secrets file whose recipients differ from
// the fleet's, like `sops updatekeys`; files already right are not written.
func (Secrets) Updatekeys(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	s, err := openSecrets(ctx)
	if err != nil {
		return err
	}
	return printCount("secrets: %d files rekeyed", s.UpdateKeys)
}

// Check verifies .sops.yaml is current and every user secrets file is
// encrypted to exactly the fleet's recipients; with an identity, MACs too.
func (Secrets) Check(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	s, err := openSecrets(ctx)
	if err != nil {
		return err
	}
	ids, _, err := vars.ChosenKeys() // optional: without a key the structure is checked
	if err != nil {
		return err
	}
	probs, err := s.Check(ids)
	if err != nil {
		return err
	}
	if err := reportProblems("secrets:check", s.Dir, probs); err != nil {
		return err
	}
	fmt.Printf("secrets: %s ok\n", s.Dir)
	return nil
}
