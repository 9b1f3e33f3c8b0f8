package jobs

import "github.com/riverqueue/river"

// PaceArgs asks the pacer to release the next recipients of a sender number's running
// campaigns. Launch and resume insert it in their transaction; the pacer re-inserts itself
// while work remains.
type PaceArgs struct {
	SenderNumberID int64 `json:"sender_number_id" river:"unique"`
}

func (PaceArgs) Kind() string { return "pace" }

func (PaceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCampaign, MaxAttempts: 1000}
}
