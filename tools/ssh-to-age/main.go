// Command ssh-to-age converts SSH ed25519 keys to age keys, with the flags of
// Mic92's ssh-to-age so that scripts written for it work unchanged:
//
//	ssh-to-age [-i in] [-o out] [-private-key] [-version]
//
// Without -private-key it reads public keys (authorized_keys or known_hosts
// lines, one per line, as printed by ssh-keyscan) and prints one age
// recipient per ed25519 key, skipping other key types with a note on stderr.
// With -private-key it reads one OpenSSH private key (passphrase from
// SSH_TO_AGE_PASSPHRASE) and prints the age identity. "-" (the default) is
// standard input or output.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

const version = "vanixiets-ssh-to-age 1.0 (compatible with Mic92/ssh-to-age 1.1)"

func main() {
	if err := run(os.Args, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ssh-to-age: %s\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	privateKey := fs.Bool("private-key", false, "convert private key instead of public key")
	in := fs.String("i", "-", "Input path. Reads by default from standard input")
	out := fs.String("o", "-", "Output path. Prints by default to standard output")
	showVersion := fs.Bool("version", false, "show version and exit")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (input goes in -i)", fs.Arg(0))
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version)
		return err
	}
	var (
		input []byte
		err   error
	)
	if *in == "-" {
		input, err = io.ReadAll(stdin)
	} else {
		input, err = os.ReadFile(*in)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", *in, err)
	}
	var result bytes.Buffer
	if *privateKey {
		id, err := agekey.IdentityFromSSH(input, []byte(os.Getenv("SSH_TO_AGE_PASSPHRASE")))
		if err != nil {
			return fmt.Errorf("convert %s: %w", *in, err)
		}
		result.WriteString(id + "\n")
	} else {
		for _, line := range bytes.Split(input, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			r, err := agekey.RecipientFromSSH(line)
			if errors.Is(err, agekey.ErrUnsupportedKeyType) {
				fmt.Fprintf(stderr, "skipped key: %s\n", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("convert %s: %w", *in, err)
			}
			result.WriteString(r + "\n")
		}
	}
	if *out == "-" {
		_, err = stdout.Write(result.Bytes())
		return err
	}
	mode := os.FileMode(0o644)
	if *privateKey {
		mode = 0o600
	}
	return fsutil.WriteFile(*out, result.Bytes(), mode)
}
