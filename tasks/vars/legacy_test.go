package vars

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/agekey"
)

// The suite's earlier format, written by tests to exercise vars:migrate.

// recipientSet renders recipients as the content of a secret's
// `recipients` file: one "age1... who" line per recipient, sorted by key.
// The file lets rekey and check see who a secret is encrypted to without
// decrypting it: age's X25519 stanzas do not name their recipient.
func recipientSet(rs []Recipient) []byte {
	sorted := append([]Recipient(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	var b bytes.Buffer
	for _, r := range sorted {
		fmt.Fprintf(&b, "%s %s\n", r.Key, r.Who)
	}
	return b.Bytes()
}

// encrypt encrypts plaintext to the recipients in ASCII armor (diffable,
// and accepted by `age -d` as is).
func encrypt(plaintext []byte, rs []Recipient) ([]byte, error) {
	var ars []age.Recipient
	for _, r := range rs {
		x, err := age.ParseX25519Recipient(r.Key)
		if err != nil {
			return nil, fmt.Errorf("recipient %s (%s): %w", r.Key, r.Who, err)
		}
		ars = append(ars, x)
	}
	if len(ars) == 0 {
		return nil, errors.New("no recipients")
	}
	return agekey.EncryptArmored(plaintext, ars...)
}
