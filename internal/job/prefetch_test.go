package job

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestPipelineKeepsOrderAndErrors(t *testing.T) {
	ctx := context.Background()
	const n = 3*prefetchBatch + 17
	produce := func(fail int) func(context.Context, func(int) error) error {
		return func(ctx context.Context, emit func(int) error) error {
			for i := range n {
				if i == fail {
					return fmt.Errorf("read failed at %d", i)
				}
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		}
	}
	var got []int
	if err := pipeline(ctx, produce(-1), func(v int) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("consumed %d values, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("value %d is %d: order not kept", i, v)
		}
	}

	// The producer's error is returned; the lines before it were consumed in order.
	got = got[:0]
	err := pipeline(ctx, produce(prefetchBatch+5), func(v int) error { got = append(got, v); return nil })
	if err == nil || err.Error() != fmt.Sprintf("read failed at %d", prefetchBatch+5) {
		t.Fatalf("producer error = %v", err)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("value %d is %d after a producer error", i, v)
		}
	}

	// The consumer's error stops the producer and is returned as is.
	stop := errors.New("stop")
	produced := 0
	err = pipeline(ctx, func(ctx context.Context, emit func(int) error) error {
		for i := range 100 * prefetchBatch {
			produced++
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}, func(v int) error {
		if v == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("consumer error = %v, want %v", err, stop)
	}
	if produced >= 100*prefetchBatch {
		t.Fatalf("the producer read all %d values after the consumer failed", produced)
	}
}
