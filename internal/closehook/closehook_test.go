package closehook_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/mcpws/mcpws/internal/closehook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHooks(t *testing.T) {
	for _, tt := range []struct {
		name string
		// serve plays the handler: it may adopt the hooks and run them.
		serve     func(ctx context.Context, end *func())
		atDone    int // runs once every done returned
		afterEnd  int // runs once the connection ended
		endCalled bool
	}{
		{"nobody adopts: done runs them", func(context.Context, *func()) {}, 2, 2, false},
		{"adopted: done leaves them to the connection", func(ctx context.Context, end *func()) {
			*end = closehook.Adopt(ctx).Run
		}, 0, 2, true},
		{"adopted and run before returning (a refusal)", func(ctx context.Context, _ *func()) {
			closehook.Adopt(ctx).Run()
		}, 2, 2, false},
		{"adopted, run twice: each hook once", func(ctx context.Context, end *func()) {
			a := closehook.Adopt(ctx)
			a.Run()
			*end = a.Run
		}, 2, 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runs := 0
			ctx, done1 := closehook.Register(context.Background(), func() { runs++ })
			ctx, done2 := closehook.Register(ctx, func() { runs++ })
			var end func()
			tt.serve(ctx, &end)
			done2()
			done1()
			if runs != tt.atDone {
				t.Errorf("after done: %d runs, want %d", runs, tt.atDone)
			}
			if (end != nil) != tt.endCalled {
				t.Fatalf("connection end hook set: %v", end != nil)
			}
			if end != nil {
				end()
			}
			done1()
			if runs != tt.afterEnd {
				t.Errorf("after the connection ended: %d runs, want %d", runs, tt.afterEnd)
			}
		})
	}
}

// A hook registered after the handler adopted the others is not its to
// run: done runs it.
func TestRegisterAfterAdopt(t *testing.T) {
	var first, second int
	ctx, done1 := closehook.Register(context.Background(), func() { first++ })
	a := closehook.Adopt(ctx)
	_, done2 := closehook.Register(ctx, func() { second++ })
	done2()
	done1()
	if first != 0 || second != 1 {
		t.Fatalf("after done: first %d, second %d; want 0, 1", first, second)
	}
	a.Run()
	if first != 1 || second != 1 {
		t.Fatalf("after Run: first %d, second %d; want 1, 1", first, second)
	}
	closehook.Adopt(context.Background()).Run() // no hooks: a no-op
}
