package adminkeystest

import (
	"os"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
)

func TestUnsetAndEnv(t *testing.T) {
	for _, v := range adminkeys.Named {
		t.Setenv(v, "set-by-the-developer")
	}
	env := Env(append(os.Environ(), "KEEP=1", "SOPS_AGE_KEY=AGE-SECRET-KEY-1X"))
	assert.Check(t, is.Contains(env, "KEEP=1"))
	for _, kv := range env {
		for _, v := range adminkeys.Named {
			assert.Check(t, len(kv) < len(v)+1 || kv[:len(v)+1] != v+"=", "%s left in the child's environment", kv)
		}
	}
	t.Run("Unset", func(t *testing.T) {
		Unset(t)
		for _, v := range adminkeys.Named {
			assert.Check(t, is.Equal(os.Getenv(v), ""), v)
		}
	})
	for _, v := range adminkeys.Named {
		assert.Check(t, is.Equal(os.Getenv(v), "set-by-the-developer"), "%s restored after the subtest", v)
	}
}
