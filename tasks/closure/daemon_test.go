package closure

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"gotest.tools/v3/assert"
)

// msg builds daemon output: ints as u64, strings padded, as the wire has them.
func msg(parts ...any) []byte {
	var b bytes.Buffer
	w := &wireConn{w: bufio.NewWriter(&b)}
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			w.u64(uint64(v))
		case string:
			w.str(v)
		}
	}
	w.w.Flush()
	return b.Bytes()
}

func conn(b []byte) *daemonConn {
	return &daemonConn{wireConn: &wireConn{r: bufio.NewReader(bytes.NewReader(b))}, minor: 32}
}

func TestDaemonResult(t *testing.T) {
	structuredErr := func(text string) []any {
		return []any{stderrError, "Error", 0, "Error", text, 0, 1, 0, "while adding"}
	}
	for _, tc := range []struct {
		name    string
		in      []any
		wantErr string // "" = success
	}{
		{"last", []any{stderrLast}, ""},
		{"activities then last", []any{
			stderrStartActivity, 7, 3, 100, "copying", 2, 0, 42, 1, "x", 0,
			stderrResult, 7, 105, 1, 0, 9,
			stderrStopActivity, 7,
			stderrLast}, ""},
		{"error with logs", append([]any{stderrNext, "warning: something\n"}, structuredErr("cannot add path '/nix/store/x' because it lacks a signature by a trusted key")...),
			"warning: something | cannot add path '/nix/store/x' because it lacks a signature by a trusted key"},
		{"colour codes stripped", structuredErr("path '\x1b[35;1m/nix/store/x\x1b[0m' is invalid"), "path '/nix/store/x' is invalid"},
		{"old protocol read", []any{stderrRead, 10}, "STDERR_READ"},
		{"unknown", []any{0x1234}, "unknown message"},
		{"bad field type", []any{stderrResult, 1, 2, 1, 9}, "field of type 9"},
		{"truncated", []any{stderrNext}, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := conn(msg(tc.in...)).result()
			if tc.wantErr == "" {
				assert.NilError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestDaemonErrorIsTyped(t *testing.T) {
	err := conn(msg(stderrError, "Error", 0, "Error", "boom", 0, 0)).result()
	var de *DaemonError
	assert.Assert(t, errors.As(err, &de))
	assert.Equal(t, de.Message, "boom")
}

func TestFrameWriter(t *testing.T) {
	for _, n := range []int{0, 1, 7, frameSize - 1, frameSize, frameSize + 1, 3*frameSize + 5} {
		data := bytes.Repeat([]byte("nar!"), n/4+1)[:n]
		var out bytes.Buffer
		fw := &frameWriter{w: &out}
		// Write in odd pieces, as DumpNAR does.
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1000)
			m, err := fw.Write(rest[:k])
			assert.NilError(t, err)
			assert.Equal(t, m, k)
			rest = rest[k:]
		}
		assert.NilError(t, fw.close())
		// Decode: frames of at most frameSize, no padding, a zero frame last.
		var got []byte
		r := bytes.NewReader(out.Bytes())
		frames := 0
		for {
			var h [8]byte
			_, err := io.ReadFull(r, h[:])
			assert.NilError(t, err)
			l := binary.LittleEndian.Uint64(h[:])
			if l == 0 {
				break
			}
			assert.Assert(t, l <= frameSize)
			buf := make([]byte, l)
			_, err = io.ReadFull(r, buf)
			assert.NilError(t, err)
			got = append(got, buf...)
			frames++
		}
		assert.Equal(t, r.Len(), 0, "bytes after the end frame")
		assert.Assert(t, bytes.Equal(got, data), "n=%d", n)
		assert.Equal(t, frames, (n+frameSize-1)/frameSize, "n=%d", n)
	}
}

func TestGreetRefusesOldOrForeignDaemons(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []any
		want string
	}{
		{"bad magic", []any{0x1234, 0x120}, "bad magic"},
		{"too old", []any{workerMagic2, 1<<8 | 21}, "1.21"},
		{"major 2", []any{workerMagic2, 2<<8 | 30}, "2.30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conn(msg(tc.in...))
			c.w = bufio.NewWriter(io.Discard)
			assert.ErrorContains(t, c.greet(), tc.want)
		})
	}
	// A current daemon: we answer with our version, then read its start-up
	// messages.
	var sent bytes.Buffer
	c := conn(msg(workerMagic2, 1<<8|35, stderrLast))
	c.w = bufio.NewWriter(&sent)
	assert.NilError(t, c.greet())
	assert.Equal(t, c.minor, uint64(clientMinor))
	assert.DeepEqual(t, sent.Bytes(), msg(workerMagic1, 1<<8|clientMinor, 0, 0))
}

func FuzzDaemonResult(f *testing.F) {
	f.Add(msg(stderrLast))
	f.Add(msg(stderrNext, "x", stderrError, "Error", 0, "Error", "boom", 0, 0))
	f.Add(msg(stderrStartActivity, 1, 2, 3, "s", 1, 1, "v", 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever the bytes, result returns (no panic, no endless
		// loop), and succeeds only when the daemon said LAST.
		if conn(b).result() == nil && !bytes.Contains(b, msg(stderrLast)) {
			t.Fatalf("success without a LAST message: %x", b)
		}
	})
}
