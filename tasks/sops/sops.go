// Package sops reads and writes sops files encrypted to age recipients, in
// the binary, JSON and YAML stores, so that the `sops` command, sops-nix and
// clan read what the suite writes and the suite reads what they write.
//
// Most callers need three functions: Encrypt a document to recipients,
// Decrypt it with identities (the MAC is verified), and UpdateKeys to
// re-wrap the data key for a new set of recipients without touching the
// values. Edit re-encrypts a changed document keeping the ciphertext of
// every unchanged value byte-identical, as `sops edit` does.
//
// Why not import github.com/getsops/sops/v3: measured in docs/vars.md, it
// adds the AWS, GCP, Azure, Vault, HuaweiCloud and PGP clients (over 100
// modules to go.mod and a go_repository each to the Bazel set-up) for a
// format that, restricted to age, is a data key, AES256-GCM per value and a
// SHA-512 MAC. The format is implemented here and proved against the real
// sops binary in the interop tests.
package sops

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/vanixiets/vanixiets/tasks/agekey"
)

// Format is a sops store: how the document around the values is written.
type Format int

const (
	// Binary is sops' store for arbitrary bytes: a JSON object whose "data"
	// value is the whole content (clan's vars `secret` files).
	Binary Format = iota
	// JSON is a JSON document whose leaf values are encrypted.
	JSON
	// YAML is a YAML document whose leaf values are encrypted (sops-nix's
	// secrets/*.yaml).
	YAML
)

func (f Format) String() string {
	switch f {
	case JSON:
		return "json"
	case YAML:
		return "yaml"
	}
	return "binary"
}

// FormatFor picks the store from a file name the way sops does: .json is
// JSON, .yaml and .yml are YAML, anything else (clan's `secret`) is binary.
func FormatFor(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return JSON
	case ".yaml", ".yml":
		return YAML
	}
	return Binary
}

// Version is the sops format version the suite writes (the version field
// of the metadata; sops accepts files from any 3.x).
const Version = "3.13.3"

// DefaultUnencryptedSuffix is what sops writes into JSON and YAML files
// created without a rule: keys ending with it stay in clear text (still
// covered by the MAC).
const DefaultUnencryptedSuffix = "_unencrypted"

// AgeKey is one age recipient entry of the metadata.
type AgeKey struct {
	Recipient string
	Enc       string // the data key, age-encrypted in ASCII armor
}

// Metadata is the "sops" section.
type Metadata struct {
	Age               []AgeKey
	LastModified      string
	MAC               string
	UnencryptedSuffix string
	Version           string
	// Other holds metadata keys the suite does not interpret (other key
	// types, regexes): a file carrying any is refused for writing, so a
	// rewrite can never silently drop a master key or change what is
	// encrypted.
	Other []string
}

// Recipients returns the age recipients of the file, sorted.
func (m Metadata) Recipients() []string {
	var out []string
	for _, k := range m.Age {
		out = append(out, k.Recipient)
	}
	sort.Strings(out)
	return out
}

// File is a parsed sops file: its document (values encrypted) and metadata.
type File struct {
	Format Format
	Doc    *Map
	Meta   Metadata
}

// Map is an ordered mapping, the shape of every sops document.
type Map struct {
	Items []Item
}

// Item is one key of a Map. Value is a string, int, float64, bool, nil,
// *Map or []any.
type Item struct {
	Key   string
	Value any
}

// Get returns the value of key and whether it is present.
func (m *Map) Get(key string) (any, bool) {
	for _, it := range m.Items {
		if it.Key == key {
			return it.Value, true
		}
	}
	return nil, false
}

// ErrMAC is wrapped by Decrypt's error when the values do not match the
// file's MAC: the file was edited without the data key (tampered).
var ErrMAC = errors.New("MAC mismatch")

// Parse reads a sops file without decrypting it.
func Parse(format Format, b []byte) (*File, error) {
	var doc *Map
	var err error
	switch format {
	case YAML:
		doc, err = parseYAML(b)
	default:
		doc, err = parseJSON(b)
	}
	if err != nil {
		return nil, err
	}
	return splitMeta(format, doc)
}

// splitMeta removes the "sops" key from doc and decodes it.
func splitMeta(format Format, doc *Map) (*File, error) {
	f := &File{Format: format, Doc: &Map{}}
	var meta *Map
	for _, it := range doc.Items {
		if it.Key == "sops" {
			m, ok := it.Value.(*Map)
			if !ok {
				return nil, errors.New(`the "sops" key is not a mapping`)
			}
			meta = m
			continue
		}
		f.Doc.Items = append(f.Doc.Items, it)
	}
	if meta == nil {
		return nil, errors.New(`not a sops file: no "sops" metadata key (encrypt it with sops or the suite first)`)
	}
	for _, it := range meta.Items {
		switch it.Key {
		case "age":
			list, ok := it.Value.([]any)
			if !ok {
				return nil, errors.New(`sops metadata "age" is not a list`)
			}
			for i, e := range list {
				m, ok := e.(*Map)
				if !ok {
					return nil, fmt.Errorf(`sops metadata age[%d] is not a mapping`, i)
				}
				r, _ := m.Get("recipient")
				enc, _ := m.Get("enc")
				rs, ok1 := r.(string)
				es, ok2 := enc.(string)
				if !ok1 || !ok2 || rs == "" || es == "" {
					return nil, fmt.Errorf(`sops metadata age[%d] wants string "recipient" and "enc"`, i)
				}
				f.Meta.Age = append(f.Meta.Age, AgeKey{Recipient: rs, Enc: es})
			}
		case "lastmodified":
			f.Meta.LastModified = scalarString(it.Value)
		case "mac":
			f.Meta.MAC = scalarString(it.Value)
		case "unencrypted_suffix":
			f.Meta.UnencryptedSuffix = scalarString(it.Value)
		case "version":
			f.Meta.Version = scalarString(it.Value)
		case "shamir_threshold", "mac_only_encrypted":
			if s := scalarString(it.Value); s != "" && s != "0" && s != "false" {
				f.Meta.Other = append(f.Meta.Other, it.Key)
			}
		default:
			if isEmptyMeta(it.Value) {
				continue
			}
			f.Meta.Other = append(f.Meta.Other, it.Key)
		}
	}
	if f.Meta.MAC == "" {
		return nil, errors.New(`sops metadata has no "mac"`)
	}
	if f.Meta.LastModified == "" {
		return nil, errors.New(`sops metadata has no "lastmodified"`)
	}
	return f, nil
}

func isEmptyMeta(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// Recipients reads the age recipients of a sops file without decrypting it.
func Recipients(format Format, b []byte) ([]string, error) {
	f, err := Parse(format, b)
	if err != nil {
		return nil, err
	}
	return f.Meta.Recipients(), nil
}

// DataKey unwraps the file's data key with any of ids.
func (f *File) DataKey(ids []age.Identity) ([]byte, error) {
	if len(ids) == 0 {
		return nil, errors.New("no age identity to decrypt with (put your age key where sops reads it: $SOPS_AGE_KEY_FILE, $SOPS_AGE_KEY, or sops/age/keys.txt in your configuration directory)")
	}
	if len(f.Meta.Age) == 0 {
		return nil, errors.New("the file has no age recipient (it is encrypted with another key type the suite does not use)")
	}
	var last error
	for _, k := range f.Meta.Age {
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(strings.TrimSpace(k.Enc)+"\n")), ids...)
		if err != nil {
			last = err
			continue
		}
		key, err := io.ReadAll(r)
		if err != nil {
			last = err
			continue
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("the data key for %s is %d bytes, want 32", k.Recipient, len(key))
		}
		return key, nil
	}
	var have []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			have = append(have, x.Recipient().String())
		}
	}
	return nil, fmt.Errorf("none of the identities (%s) is a recipient (%s): %v; use the key of one of the recipients", strings.Join(have, ", "), strings.Join(f.Meta.Recipients(), ", "), last)
}

// leaf visits every value of the document in sops' walk order: keys in
// document order, list elements in order, the path being the keys only
// (list indexes are not part of it, as in sops).
func walk(m *Map, path []string, fn func(path []string, v any) (any, error)) error {
	for i := range m.Items {
		p := append(append([]string(nil), path...), m.Items[i].Key)
		nv, err := walkValue(m.Items[i].Value, p, fn)
		if err != nil {
			return err
		}
		m.Items[i].Value = nv
	}
	return nil
}

func walkValue(v any, path []string, fn func([]string, any) (any, error)) (any, error) {
	switch x := v.(type) {
	case *Map:
		return x, walk(x, path, fn)
	case []any:
		for i := range x {
			nv, err := walkValue(x[i], path, fn)
			if err != nil {
				return nil, err
			}
			x[i] = nv
		}
		return x, nil
	case nil:
		return nil, nil
	}
	return fn(path, v)
}

// toBytes is sops' byte form of a value, hashed into the MAC and encrypted.
func toBytes(v any) ([]byte, string, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), "str", nil
	case int:
		return []byte(strconv.Itoa(x)), "int", nil
	case float64:
		return []byte(strconv.FormatFloat(x, 'f', -1, 64)), "float", nil
	case bool:
		if x {
			return []byte("True"), "bool", nil
		}
		return []byte("False"), "bool", nil
	}
	return nil, "", fmt.Errorf("unsupported value type %T", v)
}

func (f *File) clearText(path []string) bool {
	s := f.Meta.UnencryptedSuffix
	return s != "" && strings.HasSuffix(path[len(path)-1], s)
}

var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:([^,]*),iv:([^,]+),tag:([^,]+),type:([a-z]+)\]$`)

// decryptValue opens one ENC[...] value with the data key and its path as
// additional data.
func decryptValue(s string, key []byte, aad string) (any, []byte, error) {
	if s == "" {
		return "", nil, nil
	}
	m := encRE.FindStringSubmatch(s)
	if m == nil {
		return nil, nil, fmt.Errorf("value is not an ENC[AES256_GCM,...] string")
	}
	data, err1 := base64.StdEncoding.DecodeString(m[1])
	iv, err2 := base64.StdEncoding.DecodeString(m[2])
	tag, err3 := base64.StdEncoding.DecodeString(m[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, fmt.Errorf("bad base64 in ENC value: %v", err)
	}
	if len(iv) == 0 || len(tag) != 16 {
		return nil, nil, fmt.Errorf("bad iv or tag length in ENC value")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, nil, err
	}
	pt, err := gcm.Open(nil, iv, append(data, tag...), []byte(aad))
	if err != nil {
		return nil, nil, fmt.Errorf("AES-GCM authentication failed")
	}
	var v any
	switch m[4] {
	case "str", "bytes":
		v = string(pt)
	case "int":
		v, err = strconv.Atoi(string(pt))
	case "float":
		v, err = strconv.ParseFloat(string(pt), 64)
	case "bool":
		v, err = strconv.ParseBool(string(pt))
	default:
		return nil, nil, fmt.Errorf("unsupported ENC type %q", m[4])
	}
	return v, pt, err
}

// encryptValue seals one value; an empty string stays empty, as in sops.
func encryptValue(v any, key []byte, aad string) (string, error) {
	if s, ok := v.(string); ok && s == "" {
		return "", nil
	}
	pt, typ, err := toBytes(v)
	if err != nil {
		return "", err
	}
	iv := make([]byte, 32)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, 32)
	if err != nil {
		return "", err
	}
	out := gcm.Seal(nil, iv, pt, []byte(aad))
	n := len(out) - 16
	return "ENC[AES256_GCM,data:" + base64.StdEncoding.EncodeToString(out[:n]) +
		",iv:" + base64.StdEncoding.EncodeToString(iv) +
		",tag:" + base64.StdEncoding.EncodeToString(out[n:]) +
		",type:" + typ + "]", nil
}

func aad(path []string) string { return strings.Join(path, ":") + ":" }

// Open decrypts the document with the data key and verifies the MAC. It
// returns the plaintext document (f is left encrypted).
func (f *File) Open(key []byte) (*Map, error) {
	doc := cloneMap(f.Doc)
	h := sha512.New()
	err := walk(doc, nil, func(path []string, v any) (any, error) {
		if f.clearText(path) {
			b, _, err := toBytes(v)
			if err != nil {
				return nil, err
			}
			h.Write(b)
			return v, nil
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("value at %s is a %T, not an ENC[...] string", strings.Join(path, "."), v)
		}
		pv, pt, err := decryptValue(s, key, aad(path))
		if err != nil {
			return nil, fmt.Errorf("value at %s: %w: %w", strings.Join(path, "."), ErrMAC, err)
		}
		h.Write(pt)
		return pv, nil
	})
	if err != nil {
		return nil, err
	}
	mac, _, err := decryptValue(f.Meta.MAC, key, f.Meta.LastModified)
	if err != nil {
		return nil, fmt.Errorf("%w: the MAC does not open with the data key: %v", ErrMAC, err)
	}
	if want := fmt.Sprintf("%X", h.Sum(nil)); mac != want {
		return nil, fmt.Errorf("%w: the values do not match the MAC (the file was changed without the data key)", ErrMAC)
	}
	return doc, nil
}

// seal encrypts plain into f.Doc with key, reusing old ciphertexts for
// unchanged values (old may be nil), and sets the MAC and lastmodified.
func (f *File) seal(plain *Map, key []byte, old map[string]oldValue, now time.Time) error {
	doc := cloneMap(plain)
	h := sha512.New()
	err := walk(doc, nil, func(path []string, v any) (any, error) {
		b, _, err := toBytes(v)
		if err != nil {
			return nil, fmt.Errorf("value at %s: %w", strings.Join(path, "."), err)
		}
		h.Write(b)
		if f.clearText(path) {
			return v, nil
		}
		a := aad(path)
		if o, ok := old[a]; ok && len(o.queue) > 0 {
			head := o.queue[0]
			if head.plain == v {
				o.queue = o.queue[1:]
				old[a] = o
				return head.enc, nil
			}
		}
		return encryptValue(v, key, a)
	})
	if err != nil {
		return err
	}
	f.Doc = doc
	f.Meta.LastModified = now.UTC().Format(time.RFC3339)
	mac, err := encryptValue(fmt.Sprintf("%X", h.Sum(nil)), key, f.Meta.LastModified)
	if err != nil {
		return err
	}
	f.Meta.MAC = mac
	return nil
}

type oldEntry struct {
	plain any
	enc   string
}

type oldValue struct{ queue []oldEntry }

// oldValues pairs each encrypted value of f with its plaintext, by path, in
// walk order (a path may repeat in lists).
func oldValues(f *File, plain *Map) map[string]oldValue {
	out := map[string]oldValue{}
	var encs []string
	_ = walk(cloneMap(f.Doc), nil, func(path []string, v any) (any, error) {
		if s, ok := v.(string); ok && !f.clearText(path) {
			encs = append(encs, s)
		} else {
			encs = append(encs, "")
		}
		return v, nil
	})
	i := 0
	_ = walk(cloneMap(plain), nil, func(path []string, v any) (any, error) {
		if i < len(encs) && encs[i] != "" {
			a := aad(path)
			o := out[a]
			o.queue = append(o.queue, oldEntry{plain: v, enc: encs[i]})
			out[a] = o
		}
		i++
		return v, nil
	})
	return out
}

func cloneMap(m *Map) *Map {
	out := &Map{Items: make([]Item, len(m.Items))}
	for i, it := range m.Items {
		out.Items[i] = Item{Key: it.Key, Value: cloneValue(it.Value)}
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case *Map:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = cloneValue(x[i])
		}
		return out
	}
	return v
}

// wrapKey age-encrypts the data key to each recipient (armored, as sops).
func wrapKey(key []byte, recipients []string) ([]AgeKey, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipients")
	}
	var out []AgeKey
	for _, r := range recipients {
		x, err := age.ParseX25519Recipient(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %v (want an age1... X25519 public key)", r, err)
		}
		enc, err := agekey.EncryptArmored(key, x)
		if err != nil {
			return nil, err
		}
		out = append(out, AgeKey{Recipient: r, Enc: string(enc)})
	}
	return out, nil
}

// Emit writes the file in its store's form.
func (f *File) Emit() ([]byte, error) {
	if len(f.Meta.Other) > 0 {
		return nil, fmt.Errorf("the file's sops metadata has keys the suite does not write (%s): edit it with the sops command", strings.Join(f.Meta.Other, ", "))
	}
	doc := &Map{Items: append(append([]Item(nil), f.Doc.Items...), Item{Key: "sops", Value: f.metaMap()})}
	if f.Format == YAML {
		return emitYAML(doc)
	}
	return emitJSON(doc), nil
}

func (f *File) metaMap() *Map {
	m := &Map{}
	var ages []any
	for _, k := range f.Meta.Age {
		ages = append(ages, &Map{Items: []Item{{"recipient", k.Recipient}, {"enc", k.Enc}}})
	}
	m.Items = append(m.Items, Item{"age", ages}, Item{"lastmodified", f.Meta.LastModified}, Item{"mac", f.Meta.MAC})
	if f.Meta.UnencryptedSuffix != "" {
		m.Items = append(m.Items, Item{"unencrypted_suffix", f.Meta.UnencryptedSuffix})
	}
	v := f.Meta.Version
	if v == "" {
		v = Version
	}
	m.Items = append(m.Items, Item{"version", v})
	return m
}

// Now is the clock for lastmodified (tests may pin it).
var Now = time.Now

// EncryptDoc encrypts a plaintext document to recipients with a new data
// key.
func EncryptDoc(format Format, plain *Map, recipients []string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	defer clear(key)
	ages, err := wrapKey(key, recipients)
	if err != nil {
		return nil, err
	}
	f := &File{Format: format, Meta: Metadata{Age: ages, Version: Version}}
	if format != Binary {
		f.Meta.UnencryptedSuffix = DefaultUnencryptedSuffix
	}
	if err := f.seal(plain, key, nil, Now()); err != nil {
		return nil, err
	}
	return f.Emit()
}

// Encrypt encrypts a plaintext file to recipients: for Binary the bytes are
// the content; for JSON and YAML they are the document.
func Encrypt(format Format, plaintext []byte, recipients []string) ([]byte, error) {
	plain, err := PlainDoc(format, plaintext)
	if err != nil {
		return nil, err
	}
	return EncryptDoc(format, plain, recipients)
}

// PlainDoc parses a plaintext file into a document: the binary store's one
// "data" key, or the JSON/YAML document.
func PlainDoc(format Format, plaintext []byte) (*Map, error) {
	switch format {
	case Binary:
		return &Map{Items: []Item{{Key: "data", Value: string(plaintext)}}}, nil
	case YAML:
		return parseYAML(plaintext)
	}
	return parseJSON(plaintext)
}

// PlainBytes renders a plaintext document as its store's file: the binary
// store's "data", or the JSON/YAML document.
func PlainBytes(format Format, doc *Map) ([]byte, error) {
	switch format {
	case Binary:
		v, ok := doc.Get("data")
		s, isStr := v.(string)
		if !ok || !isStr {
			return nil, errors.New(`binary sops file has no string "data" value`)
		}
		return []byte(s), nil
	case YAML:
		return emitYAML(doc)
	}
	return emitJSON(doc), nil
}

// Decrypt decrypts a sops file with ids, verifies its MAC, and returns its
// plaintext file.
func Decrypt(format Format, b []byte, ids []age.Identity) ([]byte, error) {
	doc, err := DecryptDoc(format, b, ids)
	if err != nil {
		return nil, err
	}
	return PlainBytes(format, doc)
}

// DecryptDoc is Decrypt returning the document.
func DecryptDoc(format Format, b []byte, ids []age.Identity) (*Map, error) {
	f, err := Parse(format, b)
	if err != nil {
		return nil, err
	}
	key, err := f.DataKey(ids)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return f.Open(key)
}

// UpdateKeys re-wraps the file's data key for exactly recipients, like
// `sops updatekeys`: values, MAC and lastmodified stay as they are. It
// returns the file unchanged (same bytes) and false when the recipients
// already match; the MAC is verified before anything is rewritten.
func UpdateKeys(format Format, b []byte, ids []age.Identity, recipients []string) ([]byte, bool, error) {
	f, err := Parse(format, b)
	if err != nil {
		return nil, false, err
	}
	want := append([]string(nil), recipients...)
	sort.Strings(want)
	want = dedup(want)
	if strings.Join(f.Meta.Recipients(), ",") == strings.Join(want, ",") {
		return b, false, nil
	}
	key, err := f.DataKey(ids)
	if err != nil {
		return nil, false, err
	}
	defer clear(key)
	if _, err := f.Open(key); err != nil {
		return nil, false, err
	}
	keep := map[string]AgeKey{}
	for _, k := range f.Meta.Age {
		keep[k.Recipient] = k
	}
	var ages []AgeKey
	for _, r := range want {
		if k, ok := keep[r]; ok {
			ages = append(ages, k)
			continue
		}
		w, err := wrapKey(key, []string{r})
		if err != nil {
			return nil, false, err
		}
		ages = append(ages, w...)
	}
	f.Meta.Age = ages
	out, err := f.Emit()
	return out, true, err
}

func dedup(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// Edit replaces the file's document with plain, keeping its data key and
// recipients, and the ciphertext of every value whose path and plaintext
// are unchanged byte-identical (a reviewer's diff shows only what changed).
// When plain equals the current document the file is returned as it was.
func Edit(format Format, b []byte, ids []age.Identity, plain *Map) ([]byte, bool, error) {
	f, err := Parse(format, b)
	if err != nil {
		return nil, false, err
	}
	key, err := f.DataKey(ids)
	if err != nil {
		return nil, false, err
	}
	defer clear(key)
	cur, err := f.Open(key)
	if err != nil {
		return nil, false, err
	}
	if equalMap(cur, plain) {
		return b, false, nil
	}
	if err := f.seal(plain, key, oldValues(f, cur), Now()); err != nil {
		return nil, false, err
	}
	out, err := f.Emit()
	return out, true, err
}

func equalMap(a, b *Map) bool {
	if len(a.Items) != len(b.Items) {
		return false
	}
	for i := range a.Items {
		if a.Items[i].Key != b.Items[i].Key || !equalValue(a.Items[i].Value, b.Items[i].Value) {
			return false
		}
	}
	return true
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case *Map:
		y, ok := b.(*Map)
		return ok && equalMap(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// BinaryPath finds the real sops command the interop tests compare
// against: $VANIXIETS_SOPS, else <tools>/bin/sops (scripts/install-sops.sh),
// else sops on PATH. The suite itself never runs it.
func BinaryPath(toolsDir string) (string, error) {
	for _, p := range []string{os.Getenv("VANIXIETS_SOPS"), filepath.Join(toolsDir, "bin", "sops")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("sops"); err == nil {
		return p, nil
	}
	return "", errors.New("the sops command is missing: run scripts/install-sops.sh (CI installs it)")
}
