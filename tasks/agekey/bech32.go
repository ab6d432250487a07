package agekey

// This file implements BIP 173 bech32 (not bech32m), the encoding age uses for
// its recipients ("age1...") and identities ("AGE-SECRET-KEY-1..."). age keeps
// its own copy internal, so ssh-to-age and this package each carry one.

import (
	"errors"
	"fmt"
	"strings"
)

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var generator = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= generator[i]
			}
		}
	}
	return chk
}

func hrpExpand(hrp string) []byte {
	h := []byte(strings.ToLower(hrp))
	var ret []byte
	for _, c := range h {
		ret = append(ret, c>>5)
	}
	ret = append(ret, 0)
	for _, c := range h {
		ret = append(ret, c&31)
	}
	return ret
}

// convertBits regroups a byte slice from frombits-wide to tobits-wide groups.
func convertBits(data []byte, frombits, tobits byte, pad bool) ([]byte, error) {
	var ret []byte
	acc := uint32(0)
	bits := byte(0)
	maxv := byte(1<<tobits - 1)
	for _, value := range data {
		if value>>frombits != 0 {
			return nil, errors.New("invalid data range")
		}
		acc = acc<<frombits | uint32(value)
		bits += frombits
		for bits >= tobits {
			bits -= tobits
			ret = append(ret, byte(acc>>bits)&maxv)
		}
	}
	if pad {
		if bits > 0 {
			ret = append(ret, byte(acc<<(tobits-bits))&maxv)
		}
	} else if bits >= frombits {
		return nil, errors.New("illegal zero padding")
	} else if byte(acc<<(tobits-bits))&maxv != 0 {
		return nil, errors.New("non-zero padding")
	}
	return ret, nil
}

// Bech32Encode encodes data with the human-readable part hrp. The result is
// lower case unless hrp is upper case (age's identities are upper case).
func Bech32Encode(hrp string, data []byte) (string, error) {
	values, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	if len(hrp) < 1 {
		return "", fmt.Errorf("invalid human-readable part: %q", hrp)
	}
	for _, c := range hrp {
		if c < 33 || c > 126 {
			return "", fmt.Errorf("invalid character in human-readable part: %q", c)
		}
	}
	lower := strings.ToLower(hrp)
	if hrp != lower && hrp != strings.ToUpper(hrp) {
		return "", fmt.Errorf("mixed case human-readable part: %q", hrp)
	}
	var b strings.Builder
	b.WriteString(lower)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(charset[v])
	}
	mod := polymod(append(append(hrpExpand(lower), values...), 0, 0, 0, 0, 0, 0)) ^ 1
	for p := 0; p < 6; p++ {
		b.WriteByte(charset[(mod>>uint(5*(5-p)))&31])
	}
	if hrp != lower {
		return strings.ToUpper(b.String()), nil
	}
	return b.String(), nil
}

// Bech32Decode decodes s into its human-readable part (lower case) and data,
// verifying the checksum. Unlike BIP 173 it accepts strings longer than 90
// characters, as age does.
func Bech32Decode(s string) (hrp string, data []byte, err error) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("mixed case")
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errors.New("separator '1' at invalid position")
	}
	hrp = s[:pos]
	for _, c := range hrp {
		if c < 33 || c > 126 {
			return "", nil, fmt.Errorf("invalid character in human-readable part: %q", c)
		}
	}
	var values []byte
	for i := pos + 1; i < len(s); i++ {
		d := strings.IndexByte(charset, s[i])
		if d < 0 {
			return "", nil, fmt.Errorf("invalid character in data part: %q", s[i])
		}
		values = append(values, byte(d))
	}
	if polymod(append(hrpExpand(hrp), values...)) != 1 {
		return "", nil, errors.New("invalid checksum")
	}
	data, err = convertBits(values[:len(values)-6], 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
