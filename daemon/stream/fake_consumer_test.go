package stream

import (
	"errors"
	"sync"

	"github.com/IBM/sarama"
)

// fakeConsumer is a sarama.Consumer whose partitions and failures the test
// controls; it records the offset each partition consumer started from.
type fakeConsumer struct {
	sarama.Consumer // methods Feed does not use; calling them panics

	mu         sync.Mutex
	partitions []int32
	listErr    error         // returned once by Partitions
	consumeErr map[int32]int // ConsumePartition fails this many more times
	started    map[int32][]int64
	pcs        map[int32]*fakePC
}

func newFakeConsumer(partitions ...int32) *fakeConsumer {
	return &fakeConsumer{partitions: partitions, consumeErr: map[int32]int{}, started: map[int32][]int64{}, pcs: map[int32]*fakePC{}}
}

func (c *fakeConsumer) Partitions(string) ([]int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.listErr; err != nil {
		if !errors.Is(err, sarama.ErrClosedClient) {
			c.listErr = nil
		}
		return nil, err
	}
	return append([]int32(nil), c.partitions...), nil
}

func (c *fakeConsumer) ConsumePartition(_ string, p int32, offset int64) (sarama.PartitionConsumer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.consumeErr[p] > 0 {
		c.consumeErr[p]--
		return nil, sarama.ErrLeaderNotAvailable
	}
	if pc := c.pcs[p]; pc != nil && !pc.isClosed() {
		return nil, sarama.ConfigurationError("already consuming")
	}
	c.started[p] = append(c.started[p], offset)
	pc := &fakePC{msgs: make(chan *sarama.ConsumerMessage), errs: make(chan *sarama.ConsumerError)}
	c.pcs[p] = pc
	return pc, nil
}

func (c *fakeConsumer) set(f func(c *fakeConsumer)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func (c *fakeConsumer) pc(p int32) *fakePC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pcs[p]
}

func (c *fakeConsumer) offsets(p int32) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.started[p]...)
}

// fakePC is a partition consumer; AsyncClose plays sarama giving up on it
// as well as Feed closing it.
type fakePC struct {
	sarama.PartitionConsumer

	msgs   chan *sarama.ConsumerMessage
	errs   chan *sarama.ConsumerError
	once   sync.Once
	mu     sync.Mutex
	closed bool
}

func (pc *fakePC) Messages() <-chan *sarama.ConsumerMessage { return pc.msgs }
func (pc *fakePC) Errors() <-chan *sarama.ConsumerError     { return pc.errs }

func (pc *fakePC) AsyncClose() {
	pc.once.Do(func() {
		pc.mu.Lock()
		pc.closed = true
		pc.mu.Unlock()
		close(pc.msgs)
		close(pc.errs)
	})
}

func (pc *fakePC) isClosed() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.closed
}
