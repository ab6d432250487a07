// Package terranix renders a fleet flake's terraform configuration
// (`packages.<system>.terraform`, terranix's config.tf.json), puts it in one
// canonical byte form, and checks what the rest of the suite relies on:
// every enabled cloud machine has its server resource and an address output,
// a disabled one has neither.
//
// Canonical form matters because the rendering's digest is the "render key"
// a saved terraform plan is tied to: two renderings that mean the same thing
// must have the same bytes, and any change a plan did not see must change
// them.
package terranix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// ServerResourceType maps a fleet cloud provider to the terraform resource
// type that is a machine's server. The resource's name is the machine's name.
var ServerResourceType = map[string]string{
	"hetzner": "hcloud_server",
	"gcp":     "google_compute_instance",
}

// ProviderSource maps a resource type prefix to the provider that serves it.
var ProviderSource = map[string]string{
	"hcloud": "registry.terraform.io/hetznercloud/hcloud",
	"google": "registry.terraform.io/hashicorp/google",
}

// knownTop are terraform JSON's top-level blocks.
var knownTop = map[string]bool{"terraform": true, "provider": true, "resource": true, "data": true,
	"output": true, "variable": true, "locals": true, "module": true, "moved": true, "import": true, "check": true, "removed": true}

// Config is a parsed terraform JSON configuration.
type Config struct {
	tree map[string]any
}

// Parse reads terraform JSON. It must be an object whose keys are
// terraform's top-level blocks, with resource.<type>.<name> objects.
func Parse(b []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("terraform JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("terraform JSON: trailing data after the top-level object")
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("terraform JSON: top level is %s, want an object", kind(v))
	}
	for k := range tree {
		if !knownTop[k] {
			return nil, fmt.Errorf("terraform JSON: unknown top-level block %q", k)
		}
	}
	if r, ok := tree["resource"]; ok {
		types, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("terraform JSON: resource is %s, want an object of types", kind(r))
		}
		for typ, names := range types {
			ns, ok := names.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("terraform JSON: resource.%s is %s, want an object of names", typ, kind(names))
			}
			for n, body := range ns {
				if _, ok := body.(map[string]any); !ok {
					return nil, fmt.Errorf("terraform JSON: resource.%s.%s is %s, want an object", typ, n, kind(body))
				}
			}
		}
	}
	if o, ok := tree["output"]; ok {
		outs, ok := o.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("terraform JSON: output is %s, want an object", kind(o))
		}
		for n, body := range outs {
			if _, ok := body.(map[string]any); !ok {
				return nil, fmt.Errorf("terraform JSON: output.%s is %s, want an object", n, kind(body))
			}
		}
	}
	return &Config{tree: tree}, nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// JSON returns the canonical form: keys sorted, two-space indentation, no
// HTML escaping, one trailing newline.
func (c *Config) JSON() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c.tree); err != nil {
		panic(err) // a parsed tree always encodes
	}
	return buf.Bytes()
}

// Canonicalize parses b and returns its canonical form.
func Canonicalize(b []byte) ([]byte, error) {
	c, err := Parse(b)
	if err != nil {
		return nil, err
	}
	return c.JSON(), nil
}

func (c *Config) block(name string) map[string]any {
	m, _ := c.tree[name].(map[string]any)
	return m
}

// Resource returns resource.<typ>.<name>, or nil.
func (c *Config) Resource(typ, name string) map[string]any {
	ns, _ := c.block("resource")[typ].(map[string]any)
	b, _ := ns[name].(map[string]any)
	return b
}

// Addresses returns every resource address ("hcloud_server.cinnabar"), sorted.
func (c *Config) Addresses() []string {
	var out []string
	for typ, ns := range c.block("resource") {
		for n := range ns.(map[string]any) {
			out = append(out, typ+"."+n)
		}
	}
	sort.Strings(out)
	return out
}

// Outputs returns the output names, sorted.
func (c *Config) Outputs() []string {
	var out []string
	for n := range c.block("output") {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Output returns output.<name>.value as written (usually an interpolation).
func (c *Config) Output(name string) (string, bool) {
	o, _ := c.block("output")[name].(map[string]any)
	v, ok := o["value"].(string)
	return v, ok
}

// Servers returns the server resources by machine name: for each resource
// type in ServerResourceType, every resource named after a machine.
func (c *Config) Servers() map[string]string {
	out := map[string]string{}
	for _, typ := range ServerResourceType {
		ns, _ := c.block("resource")[typ].(map[string]any)
		for n := range ns {
			out[n] = typ + "." + n
		}
	}
	return out
}

// Providers returns the provider source addresses the configuration needs:
// those of terraform.required_providers and of every resource type's prefix.
func (c *Config) Providers() []string {
	set := map[string]bool{}
	if tf, ok := c.tree["terraform"].(map[string]any); ok {
		if rp, ok := tf["required_providers"].(map[string]any); ok {
			for local, v := range rp {
				src := local
				if m, ok := v.(map[string]any); ok {
					if s, ok := m["source"].(string); ok {
						src = s
					}
				}
				set[normalizeSource(src)] = true
			}
		}
	}
	for typ := range c.block("resource") {
		prefix, _, _ := strings.Cut(typ, "_")
		if s, ok := ProviderSource[prefix]; ok {
			set[s] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func normalizeSource(s string) string {
	switch strings.Count(s, "/") {
	case 0:
		return "registry.terraform.io/hashicorp/" + s
	case 1:
		return "registry.terraform.io/" + s
	}
	return s
}
