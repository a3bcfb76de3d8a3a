// A Go program under Nimbus: the Go runtime's own threads, signals (async preemption uses
// SIGURG) and futexes, with goroutines, channels, a mutex, timers and time.Now.
// Prints "go: ok" and exits 0.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func fail(what string) {
	fmt.Println("go: FAIL", what)
	os.Exit(1)
}

func main() {
	start := time.Now()

	// Goroutines and channels: a pipeline summing 1..10000.
	numbers := make(chan int, 64)
	sums := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := 0
			for n := range numbers {
				s += n
			}
			sums <- s
		}()
	}
	go func() {
		for i := 1; i <= 10000; i++ {
			numbers <- i
		}
		close(numbers)
	}()
	total := 0
	for w := 0; w < 4; w++ {
		total += <-sums
	}
	wg.Wait()
	if total != 50005000 {
		fail(fmt.Sprint("sum ", total))
	}

	// A mutex under contention.
	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 1000; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	if counter != 8000 {
		fail(fmt.Sprint("counter ", counter))
	}

	// Busy goroutines are preempted (SIGURG) so that a timer still fires on time.
	stop := make(chan struct{})
	for g := 0; g < runtime.GOMAXPROCS(0); g++ {
		go func() {
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
					x++
				}
			}
		}()
	}
	select {
	case <-time.After(50 * time.Millisecond):
	case <-time.After(10 * time.Second):
		fail("timer")
	}
	close(stop)

	if time.Since(start) <= 0 || time.Now().Year() < 2024 {
		fail("time.Now")
	}
	fmt.Printf("go: ok (%d cpus)\n", runtime.NumCPU())
}
