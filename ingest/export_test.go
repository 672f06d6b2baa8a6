package ingest

import "github.com/carecrest/hub/store"

type (
	storeBatch  = store.Batch
	storeResult = store.Result
)

var errStoreUnavailable = store.ErrUnavailable
