package overlays

import (
	"context"
	"os"
	"testing"
)

func TestDebugRun(t *testing.T) {
	root := os.Getenv("OVL_ROOT")
	if root == "" {
		t.Skip()
	}
	rep, err := Check(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteTable(os.Stdout)
	if os.Getenv("OVL_JSON") != "" {
		rep.WriteJSON(os.Stdout)
	}
}
