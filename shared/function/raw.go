package function

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

// rawHandler is a lambda.Handler over a function of the raw payload.
type rawHandler[T any] func(context.Context, json.RawMessage) (T, error)

// Raw adapts a handler of raw event bytes to lambda.Handler. Given a plain
// func(ctx, json.RawMessage), the runtime first unmarshals the payload into
// the RawMessage itself, and bytes that are not JSON (an empty or truncated
// body) fail the invocation there, before any of our code runs: nothing is
// audited, and an asynchronous invoke is retried twice for the same bytes.
// Through Raw the bytes reach the handler untouched, so trigger.Parse turns
// them into a recorded rejection like any other bad event.
func Raw[T any](f func(context.Context, json.RawMessage) (T, error)) lambda.Handler {
	return rawHandler[T](f)
}

// Invoke implements lambda.Handler.
func (f rawHandler[T]) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f(ctx, json.RawMessage(payload))
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}
