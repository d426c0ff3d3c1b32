//! The arbiters (worker threads) actors run on, and which one a partition's actor gets.

use actix::ArbiterHandle;

/// The broker's worker threads, shared by everyone who places an actor or a connection.
#[derive(Clone)]
pub struct Arbiters {
    handles: std::sync::Arc<[ArbiterHandle]>,
}

impl Arbiters {
    pub fn new(handles: Vec<ArbiterHandle>) -> Arbiters {
        Arbiters {
            handles: handles.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&ArbiterHandle> {
        self.handles.get(index)
    }

    /// Every arbiter, in index order.
    pub fn to_vec(&self) -> Vec<ArbiterHandle> {
        self.handles.to_vec()
    }

    /// Picks the arbiter for a partition actor: spread by hash so a topic's partitions land on
    /// different threads.
    pub fn for_partition(&self, topic: &str, partition: i32) -> &ArbiterHandle {
        &self.handles[self.partition_index(topic, partition)]
    }

    /// Which arbiter a partition's actor runs on.
    pub fn partition_index(&self, topic: &str, partition: i32) -> usize {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in topic.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        (h.wrapping_add(partition as u64) % self.handles.len().max(1) as u64) as usize
    }
}

impl std::ops::Index<usize> for Arbiters {
    type Output = ArbiterHandle;

    fn index(&self, index: usize) -> &ArbiterHandle {
        &self.handles[index]
    }
}
