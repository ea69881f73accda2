package inference

import "testing"

func TestSessionOptionsSmallCPUDefaults(t *testing.T) {
	initRuntime(t)
	cfg := EngineConfig{}.withDefaults().Session
	if cfg.IntraOpThreads != 1 || cfg.InterOpThreads != 1 || cfg.AllowSpinning {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg.Entries = map[string]string{"session.use_env_allocators": "0"}
	cfg.DisableMemArena = true
	o, err := sessionOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Destroy()
	for k, want := range map[string]string{"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0", "session.use_env_allocators": "0"} {
		if got, err := o.GetSessionConfigEntry(k); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", k, got, err, want)
		}
	}
}
