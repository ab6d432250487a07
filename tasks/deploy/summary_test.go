package deploy

import (
	"errors"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// A machine's row is made from its steps' outputs alone, failed steps'
// included: these cases are the rules summarize follows.
func TestSummarizeFromOutputs(t *testing.T) {
	ok := func(o pipeline.Outputs) pipeline.Result {
		return pipeline.Result{Status: pipeline.Succeeded, Outputs: o}
	}
	failed := func(o pipeline.Outputs, err error) pipeline.Result {
		return pipeline.Result{Status: pipeline.Failed, Outputs: o, Err: err}
	}
	rb := &activate.RollbackError{Target: "m", Reason: "health check failed"}
	stall := errors.New("copy to m: no progress for 3s")
	activated := with(generations(4, 5), "pending", "true")
	for _, tc := range []struct {
		name   string
		dryRun bool
		steps  map[string]pipeline.Result
		want   Summary
	}{
		{
			name: "switched, with secrets before and after",
			steps: map[string]pipeline.Result{
				phaseVarsPre:  ok(pipeline.Outputs{outSecretsSent: "1", outSecretsTotal: "2"}),
				phaseCopy:     ok(with(copied(3, 4096), outSent, "3")),
				phaseActivate: ok(activated),
				phaseVarsPost: ok(pipeline.Outputs{outSecretsSent: "0", outSecretsTotal: "1"}),
				phaseConfirm:  ok(nil),
			},
			want: Summary{GenBefore: 4, GenAfter: 5, Paths: 3, Bytes: 4096, Result: "ok", HasSecrets: true, SecretsSent: 1, SecretsTotal: 3},
		},
		{
			name: "already running: unchanged",
			steps: map[string]pipeline.Result{
				phaseCopy:     ok(with(copied(0, 0), outSent, "0")),
				phaseActivate: ok(unchanged("/nix/store/x", 7)),
				phaseConfirm:  ok(nil),
			},
			want: Summary{GenBefore: 7, GenAfter: 7, Result: "unchanged"},
		},
		{
			name: "a stalled copy keeps what it sent; its error is the row's",
			steps: map[string]pipeline.Result{
				phaseCopy:     failed(copied(2, 100), stall),
				phaseActivate: {Status: pipeline.Skipped},
			},
			want: Summary{Paths: 2, Bytes: 100, Result: "failed", Err: stall},
		},
		{
			name: "the activation rolled back: the host is where it was",
			steps: map[string]pipeline.Result{
				phaseCopy:     ok(with(copied(1, 10), outSent, "1")),
				phaseActivate: failed(generations(4, 4), rb),
			},
			want: Summary{GenBefore: 4, GenAfter: 4, Paths: 1, Bytes: 10, Result: "rolled back", RolledBack: true, Err: rb},
		},
		{
			name: "the confirmation failed and the host rolled back",
			steps: map[string]pipeline.Result{
				phaseCopy:     ok(with(copied(1, 10), outSent, "1")),
				phaseActivate: ok(activated),
				phaseConfirm:  failed(generations(4, 4), rb),
			},
			want: Summary{GenBefore: 4, GenAfter: 4, Paths: 1, Bytes: 10, Result: "rolled back", RolledBack: true, Err: rb},
		},
		{
			name: "installed on a bare host: both copies count, nothing ran before",
			steps: map[string]pipeline.Result{
				phaseInstall:  ok(with(copied(40, 1<<20), outInstalled, "/nix/store/x")),
				phaseCopy:     ok(with(copied(0, 0), outSent, "0")),
				phaseActivate: ok(generations(1, 2)),
				phaseConfirm:  ok(nil),
			},
			want: Summary{GenBefore: 0, GenAfter: 2, Paths: 40, Bytes: 1 << 20, Result: "installed"},
		},
		{
			name:   "dry run: what would be copied, the generation stays",
			dryRun: true,
			steps: map[string]pipeline.Result{
				phasePlan: ok(with(generations(3, 3), outMissing, "5", outMissingBytes, "2048", outDryRun, `{"toplevel":"/nix/store/x","copyPaths":5}`)),
			},
			want: Summary{GenBefore: 3, GenAfter: 3, Missing: 5, MissingB: 2048, Result: "planned", DryRun: &DryRun{Toplevel: "/nix/store/x", CopyPaths: 5}},
		},
		{
			name: "a secrets step that could not reach the host still marks the machine as having secrets",
			steps: map[string]pipeline.Result{
				phaseVarsPre: failed(pipeline.Outputs{outSecretsSent: "0", outSecretsTotal: "0"}, stall),
			},
			want: Summary{Result: "failed", HasSecrets: true, Err: stall},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deployer{opt: Options{DryRun: tc.dryRun}}
			results := []pipeline.Result{{Name: stepBuild, Status: pipeline.Succeeded, Outputs: pipeline.Outputs{"m": "/nix/store/x"}}}
			for phase, r := range tc.steps {
				r.Name = stepOf("m", phase)
				results = append(results, r)
			}
			rows, err := d.summarize([]*fleet.Machine{{Name: "m"}}, results, nil, time.Second)
			assert.Equal(t, len(rows), 1)
			want := tc.want
			want.Machine, want.Toplevel, want.Duration = "m", "/nix/store/x", time.Second
			got := rows[0]
			assert.Check(t, is.Equal(got.Err, want.Err))
			got.Err, want.Err = nil, nil
			assert.Check(t, is.DeepEqual(got, want))
			if tc.want.Err != nil {
				var fe *FailedError
				assert.Check(t, errors.As(err, &fe), "%v", err)
			} else {
				assert.Check(t, err)
			}
		})
	}
}

// copied are a copy step's outputs for paths sent, of bytes.
func copied(paths int, bytes int64) pipeline.Outputs {
	return copiedOutputs(closure.Report{Sent: paths, Bytes: bytes})
}
