//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// openVars loads the flake's fleet (--flake, $VANIXIETS_FLAKE, default lab/)
// and opens its vars directory: $VANIXIETS_VARS_DIR, else <flake>/vars.
func openVars(ctx context.Context) (*vars.Vars, error) {
	ref, f, err := loadFleet(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := paths.VarsCommandDir(ref, os.Getenv(paths.VarsDirEnv))
	if err != nil {
		return nil, err
	}
	v := vars.New(f, dir)
	v.Log = os.Stderr
	return v, nil
}

// splitList splits a comma/space separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// Generate runs every missing or outdated vars generator, in dependency
// order, for all machines or those named after the target
// (vars:generate cinnabar galena, or a comma list). --regenerate (or
// VANIXIETS_VARS_REGENERATE=1) forces the selected generators to run again;
// --generator g1,g2 (or VANIXIETS_VARS_GENERATOR) limits the run to those
// generators. A generator whose script, files, validation or dependencies
// changed is regenerated with its dependents without --regenerate.
// Prompts: VANIXIETS_PROMPT_<GEN>_<PROMPT>, the JSON file
// $VANIXIETS_PROMPTS_FILE, or the terminal.
func (Vars) Generate(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := openVars(ctx)
	if err != nil {
		return err
	}
	var machines []string
	for _, a := range rest() {
		machines = append(machines, splitList(a)...)
	}
	opts := vars.GenerateOptions{
		Machines:   machines,
		Generators: splitList(flag("generator", "")),
		Regenerate: boolFlag("regenerate"),
	}
	rep, err := v.Generate(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("vars: %d generated, %d up to date (scripts %s)\n", len(rep.Generated), rep.UpToDate, rep.ScriptTime.Round(1e6))
	if len(rep.StaleRecipients) > 0 {
		fmt.Printf("vars: %d secrets have outdated recipients (%s): run vars:rekey\n", len(rep.StaleRecipients), strings.Join(rep.StaleRecipients, ", "))
	}
	return nil
}

// Check verifies the vars directory against the fleet: every declared file
// present and current, each secret an age file encrypted to exactly its
// intended recipients, no stray files. When an admin identity is available
// ($VANIXIETS_AGE_IDENTITY, or where sops finds keys: $SOPS_AGE_KEY,
// $SOPS_AGE_KEY_FILE, sops/age/keys.txt) it also decrypts: every recipient
// whose key it holds must decrypt, nobody else may. CI runs it.
//
// --generators <file> checks a clan tree whose flake cannot be evaluated
// here (vars.LayoutSpec: the machines' generators and files as JSON): the
// structure, recipients against key.json and links, and, with an
// identity, each secret's MAC.
func (Vars) Check(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	if spec := flag("generators", ""); spec != "" {
		return checkLayout(spec)
	}
	v, err := openVars(ctx)
	if err != nil {
		return err
	}
	// A key the admin chose (a variable, or sops's keys.txt) decrypts, and
	// Check fails when it decrypts nothing rather than saying ok.
	ids, from, err := vars.ChosenKeys()
	if err != nil {
		return err
	}
	decrypt := ids != nil
	if decrypt {
		v.Identities = func() ([]age.Identity, error) { return ids, nil }
	}
	probs, err := v.Check(vars.CheckOptions{Decrypt: decrypt})
	if err != nil {
		return err
	}
	if err := reportProblems("vars:check", v.Dir, probs); err != nil {
		return err
	}
	mode := "structure and recipients"
	if decrypt {
		mode += ", decryption with " + from
	}
	fmt.Printf("vars: %s ok (%s)\n", v.Dir, mode)
	return nil
}

// Rekey re-encrypts the secrets whose recipients changed (a machine joined
// a shared generator, an admin or a host key changed) without regenerating
// them, with the admin identity. Only those files change.
func (Vars) Rekey(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	v, err := openVars(ctx)
	if err != nil {
		return err
	}
	return printCount("vars: %d secrets rekeyed", v.Rekey)
}

// Get prints machine's generator file (vars:get cinnabar openssh/ssh.id_ed25519.pub)
// to stdout, decrypting a secret with the admin identity.
func (Vars) Get(ctx context.Context, machine, genFile string) (err error) {
	defer explained(ctx, &err)
	v, err := openVars(ctx)
	if err != nil {
		return err
	}
	b, err := v.Get(machine, genFile)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}

// Migrate converts the vars directory to clan's sops format: secrets of the
// suite's earlier format (age armor + recipients) are rewritten as sops
// files with clan's machines/ and users/ links and sops/*/key.json, and sops
// secrets written by clan or sops are bound to their paths. Nothing is lost;
// a second run changes nothing.
func (Vars) Migrate(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	v, err := openVars(ctx)
	if err != nil {
		return err
	}
	return printCount("vars: %d secrets migrated to clan's sops format", v.Migrate)
}

// printCount runs do, a command that rewrites files, and prints format
// with how many it rewrote.
func printCount(format string, do func() ([]string, error)) error {
	done, err := do()
	if err != nil {
		return err
	}
	fmt.Printf(format+"\n", len(done))
	return nil
}

// reportProblems prints a check's problems, one a line, to stderr, and
// fails the target when there are any.
func reportProblems[P fmt.Stringer](target, dir string, probs []P) error {
	for _, p := range probs {
		fmt.Fprintln(os.Stderr, p.String())
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s: %d problems under %s", target, len(probs), dir)
	}
	return nil
}

// checkLayout is vars:check --generators: no flake is evaluated.
func checkLayout(specFile string) error {
	spec, err := vars.ReadLayoutSpec(specFile)
	if err != nil {
		return err
	}
	ref, err := flakeArg()
	if err != nil {
		return err
	}
	dir, err := paths.VarsCommandDir(ref, os.Getenv(paths.VarsDirEnv))
	if err != nil {
		return err
	}
	ids, from, err := vars.ChosenKeys() // optional: without a key the structure is checked
	if err != nil {
		return err
	}
	probs, err := vars.CheckLayout(dir, spec, ids)
	if err != nil {
		return err
	}
	if err := reportProblems("vars:check", dir, probs); err != nil {
		return err
	}
	mode := "structure and recipients"
	if len(ids) > 0 {
		mode += ", MACs of what " + from + " decrypts"
	}
	fmt.Printf("vars: %s ok (%s)\n", dir, mode)
	return nil
}
