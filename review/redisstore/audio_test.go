package redisstore_test

import (
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/storetest"
)

func TestAudioConformance(t *testing.T) {
	storetest.RunAudio(t, func(t *testing.T) review.AudioStore { return open(t).(*redisstore.Store) })
}
