package redisstore

import "context"

// The fence's parts, for its tests: they are in package redisstore_test,
// as every test of this package is, because redistest, which starts their
// Redis servers, imports this package.
var (
	NewFence  = newFence
	InfoField = infoField
)

func (f *fence) Check(ctx context.Context, runID string) error { return f.check(ctx, runID) }
