package vars

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// Prompter answers a generator's prompts.
type Prompter interface {
	// Ask returns the answer to prompt p of unit u.
	Ask(u *Unit, p *fleet.Prompt) ([]byte, error)
}

// EnvName is the environment variable that answers prompt p of generator g
// in a non-interactive run: VANIXIETS_PROMPT_<G>_<P>, upper case, with every
// character other than letters and digits replaced by '_'. A per-machine
// variant VANIXIETS_PROMPT_<MACHINE>_<G>_<P> takes precedence.
func EnvName(machine, g, p string) string {
	parts := []string{"VANIXIETS_PROMPT"}
	if machine != "" {
		parts = append(parts, machine)
	}
	parts = append(parts, g, p)
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, strings.Join(parts, "_"))
}

// DefaultPrompter answers from, in order: the environment (EnvName), the
// JSON prompts file named by $VANIXIETS_PROMPTS_FILE (keys
// "<machine>/<generator>/<prompt>" or "<generator>/<prompt>", string
// values), and the terminal when the run is interactive. A prompt nobody
// answers is an error that names the variable to set.
type DefaultPrompter struct {
	// LookupEnv defaults to os.LookupEnv. A variable set to "" answers "".
	LookupEnv func(string) (string, bool)
	// Interactive allows asking on /dev/tty. NewPrompter sets it when a
	// terminal is attached and neither CI nor VANIXIETS_NONINTERACTIVE is set.
	Interactive bool

	file map[string]string
}

// NewPrompter returns the DefaultPrompter for this process.
func NewPrompter() (*DefaultPrompter, error) {
	p := &DefaultPrompter{LookupEnv: os.LookupEnv}
	if path := os.Getenv("VANIXIETS_PROMPTS_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("prompts file (VANIXIETS_PROMPTS_FILE): %v", err)
		}
		if err := json.Unmarshal(b, &p.file); err != nil {
			return nil, fmt.Errorf("prompts file %s: want a JSON object of strings like {\"<generator>/<prompt>\": \"answer\"}: %v", path, err)
		}
	}
	if os.Getenv("VANIXIETS_NONINTERACTIVE") == "" && os.Getenv("CI") == "" {
		if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
				tty.Close()
				p.Interactive = true
			}
		}
	}
	return p, nil
}

// Ask implements Prompter.
func (d *DefaultPrompter) Ask(u *Unit, p *fleet.Prompt) ([]byte, error) {
	lookup := d.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var names, keys []string
	if u.Machine != "" {
		names = append(names, EnvName(u.Machine, u.Name, p.Name))
		keys = append(keys, u.Machine+"/"+u.Name+"/"+p.Name)
	}
	names = append(names, EnvName("", u.Name, p.Name))
	keys = append(keys, u.Name+"/"+p.Name)
	for _, n := range names {
		if v, ok := lookup(n); ok {
			return []byte(v), nil
		}
	}
	for _, k := range keys {
		if v, ok := d.file[k]; ok {
			return []byte(v), nil
		}
	}
	if !d.Interactive {
		return nil, fmt.Errorf("%s needs prompt %q (%s) and this run is not interactive: set %s or add %q to the JSON file named by VANIXIETS_PROMPTS_FILE",
			u, p.Name, describe(p), EnvName("", u.Name, p.Name), u.Name+"/"+p.Name)
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s needs prompt %q: open terminal: %v", u, p.Name, err)
	}
	defer tty.Close()
	return askTerminal(tty, u, p)
}

func describe(p *fleet.Prompt) string {
	if p.Description != "" {
		return p.Description
	}
	return "no description"
}

func askTerminal(tty *os.File, u *Unit, p *fleet.Prompt) ([]byte, error) {
	fmt.Fprintf(tty, "%s, prompt %q: %s\n", u, p.Name, describe(p))
	switch p.Type {
	case "multiline":
		fmt.Fprintln(tty, "(end with Ctrl-D on an empty line)")
		b, err := io.ReadAll(tty)
		return b, err
	case "hidden":
		fmt.Fprint(tty, "> ")
		if err := stty(tty, "-echo"); err != nil {
			return nil, err
		}
		defer func() { _ = stty(tty, "echo"); fmt.Fprintln(tty) }()
		fallthrough
	default:
		if p.Type != "hidden" {
			fmt.Fprint(tty, "> ")
		}
		line, err := bufio.NewReader(tty).ReadString('\n')
		if err != nil && line == "" {
			return nil, fmt.Errorf("%s prompt %q: %v", u, p.Name, err)
		}
		return []byte(strings.TrimRight(line, "\r\n")), nil
	}
}

func stty(tty *os.File, arg string) error {
	cmd := exec.Command("stty", arg)
	cmd.Stdin = tty
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stty %s: %v (cannot hide input)", arg, err)
	}
	return nil
}
