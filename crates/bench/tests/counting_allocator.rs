//! The counting allocator, installed as this test binary's global allocator, counts each
//! allocation of the calling thread and only that thread's.

#[global_allocator]
static ALLOCATOR: iospace_bench::CountingAllocator = iospace_bench::CountingAllocator;

use iospace_bench::counting_allocator::{is_installed, thread_allocations};

#[test]
fn counts_each_allocation_and_growth_of_this_thread() {
    assert!(is_installed());
    let before = thread_allocations();
    let mut list: Vec<u64> = Vec::with_capacity(4);
    assert_eq!(thread_allocations() - before, 1);
    list.extend([1, 2, 3, 4]);
    assert_eq!(thread_allocations() - before, 1, "no growth within the capacity");
    list.push(5);
    assert_eq!(thread_allocations() - before, 2, "growing is a reallocation");
    drop(list);
    assert_eq!(thread_allocations() - before, 2, "freeing is not counted");
}

#[test]
fn another_threads_allocations_are_not_counted_here() {
    let before = thread_allocations();
    let other = std::thread::spawn(|| {
        let start = thread_allocations();
        let boxes: Vec<Box<u32>> = (0..10).map(Box::new).collect();
        drop(boxes);
        thread_allocations() - start
    })
    .join()
    .unwrap();
    assert_eq!(other, 11, "ten boxes and the vector holding them");
    // Spawning allocates on this thread too (the thread's handle); the ten boxes do not.
    assert!(thread_allocations() - before < 10);
}
