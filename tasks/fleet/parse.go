package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ShapeError says where a `fleet` value does not have the contract's shape:
// Where is a path such as `machine "cinnabar" generator "openssh" file
// "ssh.id_ed25519"` and Problem what is wrong there (the field and the types).
type ShapeError struct {
	Where   string
	Problem string
}

func (e *ShapeError) Error() string {
	if e.Where == "" {
		return "fleet: " + e.Problem
	}
	return "fleet: " + e.Where + ": " + e.Problem
}

// Parse decodes the JSON of a `fleet` output strictly: unknown fields and
// wrong types are errors naming the machine (generator, file, instance,
// user) and the field. It fills the Name fields and does not validate
// cross-references; call Validate for that.
func Parse(data []byte) (*Fleet, error) {
	var top struct {
		Machines  map[string]json.RawMessage `json:"machines"`
		Instances map[string]json.RawMessage `json:"instances"`
		Users     map[string]json.RawMessage `json:"users"`
		Lab       json.RawMessage            `json:"lab"`
	}
	if err := decodeStrict(data, &top, ""); err != nil {
		return nil, err
	}
	if top.Machines == nil {
		return nil, &ShapeError{Problem: `missing attribute "machines" (want machines.<name> = { machineClass, system, ... })`}
	}
	f := &Fleet{
		Machines:  make(map[string]*Machine, len(top.Machines)),
		Instances: make(map[string]*Instance, len(top.Instances)),
		Users:     make(map[string]*User, len(top.Users)),
	}
	for _, name := range sortedKeys(top.Machines) {
		m, err := parseMachine(name, top.Machines[name])
		if err != nil {
			return nil, err
		}
		f.Machines[name] = m
	}
	for _, name := range sortedKeys(top.Instances) {
		var in Instance
		if err := decodeStrict(top.Instances[name], &in, fmt.Sprintf("instance %q", name)); err != nil {
			return nil, err
		}
		in.Name = name
		if in.Roles == nil {
			in.Roles = map[string]*Role{}
		}
		f.Instances[name] = &in
	}
	for _, name := range sortedKeys(top.Users) {
		var u User
		if err := decodeStrict(top.Users[name], &u, fmt.Sprintf("user %q", name)); err != nil {
			return nil, err
		}
		u.Name = name
		f.Users[name] = &u
	}
	if len(top.Lab) > 0 && !bytes.Equal(bytes.TrimSpace(top.Lab), []byte("null")) {
		f.Lab = &Lab{}
		if err := decodeStrict(top.Lab, f.Lab, "lab"); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// machineJSON decodes a machine with its generators left raw, so that each
// generator (and each of its files) is decoded on its own and an error can
// name it: encoding/json's error paths do not include map keys.
type machineJSON struct {
	Machine
	Generators map[string]json.RawMessage `json:"generators"`
}

type generatorJSON struct {
	Generator
	Files   map[string]json.RawMessage `json:"files"`
	Prompts map[string]json.RawMessage `json:"prompts"`
}

func parseMachine(name string, raw json.RawMessage) (*Machine, error) {
	where := fmt.Sprintf("machine %q", name)
	var mj machineJSON
	if err := decodeStrict(raw, &mj, where); err != nil {
		return nil, err
	}
	m := mj.Machine
	m.Name = name
	m.Generators = make(map[string]*Generator, len(mj.Generators))
	for _, gname := range sortedKeys(mj.Generators) {
		gwhere := fmt.Sprintf("%s generator %q", where, gname)
		var gj generatorJSON
		if err := decodeStrict(mj.Generators[gname], &gj, gwhere); err != nil {
			return nil, err
		}
		g := gj.Generator
		g.Name = gname
		g.Files = make(map[string]*File, len(gj.Files))
		for _, fname := range sortedKeys(gj.Files) {
			var file File
			if err := decodeStrict(gj.Files[fname], &file, fmt.Sprintf("%s file %q", gwhere, fname)); err != nil {
				return nil, err
			}
			file.Name = fname
			g.Files[fname] = &file
		}
		g.Prompts = make(map[string]*Prompt, len(gj.Prompts))
		for _, pname := range sortedKeys(gj.Prompts) {
			var p Prompt
			if err := decodeStrict(gj.Prompts[pname], &p, fmt.Sprintf("%s prompt %q", gwhere, pname)); err != nil {
				return nil, err
			}
			p.Name = pname
			g.Prompts[pname] = &p
		}
		if bytes.Equal(bytes.TrimSpace(g.Validation), []byte("null")) {
			g.Validation = nil
		} else if len(g.Validation) > 0 {
			// compact, so equal values compare (and hash) equal
			var buf bytes.Buffer
			if err := json.Compact(&buf, g.Validation); err == nil {
				g.Validation = buf.Bytes()
			}
		}
		m.Generators[gname] = &g
	}
	return &m, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data, and turns encoding/json's errors into ShapeErrors at where.
// encoding/json matches field names case-insensitively, so "targethost" is
// read as targetHost; misspellings beyond case are refused.
func decodeStrict(data []byte, v any, where string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &ShapeError{Where: where, Problem: "empty value"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &ShapeError{Where: where, Problem: describe(err, v)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &ShapeError{Where: where, Problem: "trailing data after the JSON value"}
	}
	return nil
}

func describe(err error, v any) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		// embedded structs (machineJSON's Machine) show up in the path
		field := strings.TrimPrefix(strings.TrimPrefix(te.Field, "Machine."), "Generator.")
		if field == "" {
			return fmt.Sprintf("want %s, got a JSON %s", goTypeName(te.Type.String()), te.Value)
		}
		return fmt.Sprintf("field %q: want %s, got a JSON %s", field, goTypeName(te.Type.String()), te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if l := fieldList(v); l != "" {
			return fmt.Sprintf("unknown field %s (known fields: %s)", f, l)
		}
		return fmt.Sprintf("unknown field %s", f)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "truncated JSON"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return msg
}

// goTypeName turns a Go type into the contract's vocabulary.
func goTypeName(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map[") || strings.Contains(t, "fleet.") || strings.HasPrefix(t, "struct"):
		return "an attribute set"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "float"):
		return "a number"
	}
	return t
}

func fieldList(v any) string {
	switch v.(type) {
	case *machineJSON, *Instance:
		// nested records: the unknown field may be in deploy, cloud or a role
		return ""
	case *generatorJSON:
		return "files, prompts, dependencies, reads, script, share, validation"
	case *File:
		return "secret, deploy, owner, group, mode, neededFor"
	case *Prompt:
		return "description, type, persist"
	case *User:
		return "description, ageKeys"
	case *Lab:
		return "identities"
	}
	return "machines, instances, users, lab"
}
