//! Topics, partitions and offsets: rdkafka's `TopicPartitionList`, used by the producer for
//! [`Producer::send_offsets_to_transaction`](crate::producer::Producer::send_offsets_to_transaction).
//!
//! Behaves like librdkafka's `rd_kafka_topic_partition_list_t`: `add_partition` appends (a
//! repeated topic/partition is a second element), new elements have [`Offset::Invalid`],
//! `set_partition_offset` changes the first matching element and fails with
//! `UnknownPartition` when there is none.
//!
//! Deviation (no `unsafe` here): an element borrowed from a shared list
//! ([`TopicPartitionList::elements`], [`TopicPartitionList::find_partition`]) can change its
//! offset but not its metadata; use [`TopicPartitionList::set_partition_metadata`] or set the
//! metadata on the element returned by [`TopicPartitionList::add_partition`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::{KafkaError, KafkaResult, RDKafkaErrorCode};

const PARTITION_UNASSIGNED: i32 = -1;
const OFFSET_BEGINNING: i64 = -2;
const OFFSET_END: i64 = -1;
const OFFSET_STORED: i64 = -1000;
const OFFSET_INVALID: i64 = -1001;
const OFFSET_TAIL_BASE: i64 = -2000;

/// A Kafka offset.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Offset {
    /// The beginning of the partition.
    Beginning,
    /// The end of the partition.
    End,
    /// The stored offset.
    Stored,
    /// No offset assigned, or an invalid one.
    Invalid,
    /// A specific offset (negative values are refused).
    Offset(i64),
    /// An offset relative to the end of the partition.
    OffsetTail(i64),
}

impl Offset {
    /// Converts librdkafka's integer representation to an `Offset`.
    pub fn from_raw(raw_offset: i64) -> Self {
        match raw_offset {
            OFFSET_BEGINNING => Self::Beginning,
            OFFSET_END => Self::End,
            OFFSET_STORED => Self::Stored,
            OFFSET_INVALID => Self::Invalid,
            n if n <= OFFSET_TAIL_BASE => Self::OffsetTail(-(n - OFFSET_TAIL_BASE)),
            n => Self::Offset(n),
        }
    }

    /// Converts to librdkafka's integer representation; `None` when it has none.
    pub fn to_raw(self) -> Option<i64> {
        match self {
            Self::Beginning => Some(OFFSET_BEGINNING),
            Self::End => Some(OFFSET_END),
            Self::Stored => Some(OFFSET_STORED),
            Self::Invalid => Some(OFFSET_INVALID),
            Self::Offset(n) if n >= 0 => Some(n),
            Self::OffsetTail(n) if n > 0 => Some(OFFSET_TAIL_BASE - n),
            Self::Offset(_) | Self::OffsetTail(_) => None,
        }
    }
}

/// One stored element. The offset is atomic so that elements borrowed from a shared list can
/// still change it, as rdkafka allows.
#[derive(Debug)]
struct Elem {
    topic: String,
    partition: i32,
    offset: AtomicI64,
    metadata: String,
}

impl Clone for Elem {
    fn clone(&self) -> Self {
        Self {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: AtomicI64::new(self.offset.load(Ordering::Relaxed)),
            metadata: self.metadata.clone(),
        }
    }
}

enum ElemRef<'a> {
    Shared(&'a Elem),
    Unique(&'a mut Elem),
}

/// One element of a [`TopicPartitionList`].
pub struct TopicPartitionListElem<'a> {
    elem: ElemRef<'a>,
}

impl TopicPartitionListElem<'_> {
    fn get(&self) -> &Elem {
        match &self.elem {
            ElemRef::Shared(e) => e,
            ElemRef::Unique(e) => e,
        }
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.get().topic
    }

    /// The error of this entry; a producer-built list never has one.
    pub fn error(&self) -> KafkaResult<()> {
        Ok(())
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.get().partition
    }

    /// The offset.
    pub fn offset(&self) -> Offset {
        Offset::from_raw(self.get().offset.load(Ordering::Relaxed))
    }

    /// Sets the offset; fails with `SetPartitionOffset(InvalidArgument)` for a negative one.
    pub fn set_offset(&mut self, offset: Offset) -> KafkaResult<()> {
        let raw = offset.to_raw().ok_or(KafkaError::SetPartitionOffset(
            RDKafkaErrorCode::InvalidArgument,
        ))?;
        self.get().offset.store(raw, Ordering::Relaxed);
        Ok(())
    }

    /// The metadata string committed with the offset.
    pub fn metadata(&self) -> &str {
        &self.get().metadata
    }

    /// Sets the metadata. Only elements obtained mutably ([`TopicPartitionList::add_partition`])
    /// can change it (see the module doc); on a shared element this logs a warning.
    pub fn set_metadata<M>(&mut self, metadata: M)
    where
        M: AsRef<str>,
    {
        match &mut self.elem {
            ElemRef::Unique(e) => metadata.as_ref().clone_into(&mut e.metadata),
            ElemRef::Shared(e) => tracing::warn!(
                topic = %e.topic,
                partition = e.partition,
                "set_metadata on an element borrowed from a shared TopicPartitionList is \
                 not applied; use TopicPartitionList::set_partition_metadata"
            ),
        }
    }
}

impl<'a> PartialEq for TopicPartitionListElem<'a> {
    fn eq(&self, other: &Self) -> bool {
        self.topic() == other.topic()
            && self.partition() == other.partition()
            && self.offset() == other.offset()
            && self.metadata() == other.metadata()
    }
}

impl fmt::Debug for TopicPartitionListElem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicPartitionListElem")
            .field("topic", &self.topic())
            .field("partition", &self.partition())
            .field("offset", &self.offset())
            .field("metadata", &self.metadata())
            .field("error", &self.error())
            .finish()
    }
}

/// A list of topics and partitions with optional offsets.
#[derive(Clone, Default)]
pub struct TopicPartitionList {
    elems: Vec<Elem>,
}

impl TopicPartitionList {
    /// An empty list.
    pub fn new() -> Self {
        Self::with_capacity(5)
    }

    /// An empty list with room for `capacity` elements.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            elems: Vec::with_capacity(capacity),
        }
    }

    /// A list from a map of (topic, partition) to offset.
    pub fn from_topic_map(topic_map: &HashMap<(String, i32), Offset>) -> KafkaResult<Self> {
        let mut tpl = Self::with_capacity(topic_map.len());
        for ((topic, partition), offset) in topic_map {
            tpl.add_partition_offset(topic, *partition, *offset)?;
        }
        Ok(tpl)
    }

    /// The number of elements.
    pub fn count(&self) -> usize {
        self.elems.len()
    }

    /// The allocated capacity.
    pub fn capacity(&self) -> usize {
        self.elems.capacity()
    }

    /// Appends a topic with an unassigned partition (-1).
    pub fn add_topic_unassigned<'a>(&'a mut self, topic: &str) -> TopicPartitionListElem<'a> {
        self.add_partition(topic, PARTITION_UNASSIGNED)
    }

    /// Appends a topic and partition with [`Offset::Invalid`].
    pub fn add_partition<'a>(
        &'a mut self,
        topic: &str,
        partition: i32,
    ) -> TopicPartitionListElem<'a> {
        self.elems.push(Elem {
            topic: topic.to_owned(),
            partition,
            offset: AtomicI64::new(OFFSET_INVALID),
            metadata: String::new(),
        });
        let len = self.elems.len();
        TopicPartitionListElem {
            elem: ElemRef::Unique(&mut self.elems[len - 1]),
        }
    }

    /// Appends partitions `start_partition..=stop_partition` of a topic.
    pub fn add_partition_range(&mut self, topic: &str, start_partition: i32, stop_partition: i32) {
        for partition in start_partition..=stop_partition {
            self.add_partition(topic, partition);
        }
    }

    /// Sets the offset of the first matching element.
    pub fn set_partition_offset(
        &mut self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> KafkaResult<()> {
        let raw = offset.to_raw().ok_or(KafkaError::SetPartitionOffset(
            RDKafkaErrorCode::InvalidArgument,
        ))?;
        let elem = self
            .position(topic, partition)
            .ok_or(KafkaError::SetPartitionOffset(
                RDKafkaErrorCode::UnknownPartition,
            ))?;
        self.elems[elem].offset.store(raw, Ordering::Relaxed);
        Ok(())
    }

    /// Sets the metadata of the first matching element (purekafka addition, see the module doc).
    pub fn set_partition_metadata(
        &mut self,
        topic: &str,
        partition: i32,
        metadata: &str,
    ) -> KafkaResult<()> {
        let elem = self
            .position(topic, partition)
            .ok_or(KafkaError::SetPartitionOffset(
                RDKafkaErrorCode::UnknownPartition,
            ))?;
        metadata.clone_into(&mut self.elems[elem].metadata);
        Ok(())
    }

    /// Appends a topic and partition with an offset.
    pub fn add_partition_offset(
        &mut self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> KafkaResult<()> {
        self.add_partition(topic, partition);
        self.set_partition_offset(topic, partition, offset)
    }

    fn position(&self, topic: &str, partition: i32) -> Option<usize> {
        self.elems
            .iter()
            .position(|e| e.partition == partition && e.topic == topic)
    }

    /// The first element for a topic and partition.
    pub fn find_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<TopicPartitionListElem<'_>> {
        self.position(topic, partition)
            .map(|i| TopicPartitionListElem {
                elem: ElemRef::Shared(&self.elems[i]),
            })
    }

    /// Sets every element's offset.
    pub fn set_all_offsets(&mut self, offset: Offset) -> Result<(), KafkaError> {
        let raw = offset.to_raw().ok_or(KafkaError::SetPartitionOffset(
            RDKafkaErrorCode::InvalidArgument,
        ))?;
        for e in &self.elems {
            e.offset.store(raw, Ordering::Relaxed);
        }
        Ok(())
    }

    /// All elements, in order.
    pub fn elements(&self) -> Vec<TopicPartitionListElem<'_>> {
        self.elems
            .iter()
            .map(|e| TopicPartitionListElem {
                elem: ElemRef::Shared(e),
            })
            .collect()
    }

    /// The elements of one topic, in order.
    pub fn elements_for_topic<'a>(&'a self, topic: &str) -> Vec<TopicPartitionListElem<'a>> {
        self.elems
            .iter()
            .filter(|e| e.topic == topic)
            .map(|e| TopicPartitionListElem {
                elem: ElemRef::Shared(e),
            })
            .collect()
    }

    /// The list as a map of (topic, partition) to offset.
    pub fn to_topic_map(&self) -> HashMap<(String, i32), Offset> {
        self.elements()
            .iter()
            .map(|e| ((e.topic().to_owned(), e.partition()), e.offset()))
            .collect()
    }

    /// (topic, partition, raw offset, metadata) of every element, for the engine.
    pub(crate) fn raw_elements(&self) -> impl Iterator<Item = (&str, i32, i64, &str)> {
        self.elems.iter().map(|e| {
            (
                e.topic.as_str(),
                e.partition,
                e.offset.load(Ordering::Relaxed),
                e.metadata.as_str(),
            )
        })
    }
}

impl PartialEq for TopicPartitionList {
    fn eq(&self, other: &Self) -> bool {
        self.count() == other.count()
            && self.elements().iter().all(|e| {
                other
                    .find_partition(e.topic(), e.partition())
                    .is_some_and(|o| *e == o)
            })
    }
}

impl FromIterator<(String, i32, Offset)> for TopicPartitionList {
    /// Panics on a negative offset, as rdkafka's `collect` does.
    fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = (String, i32, Offset)>,
    {
        let iter = iter.into_iter();
        let mut tpl = Self::with_capacity(iter.size_hint().0);
        for (topic, partition, offset) in iter {
            let mut elem = tpl.add_partition(&topic, partition);
            if let Err(err) = elem.set_offset(offset) {
                panic!(
                    "failed to set offset via collect() for {topic}:{partition} \
                     (offset: {offset:?}): {err:?}"
                );
            }
        }
        tpl
    }
}

impl FromIterator<((String, i32), Offset)> for TopicPartitionList {
    fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = ((String, i32), Offset)>,
    {
        iter.into_iter()
            .map(|((topic, partition), offset)| (topic, partition, offset))
            .collect()
    }
}

impl fmt::Debug for TopicPartitionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.elements()).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_librdkafka_raw_values() {
        for o in [
            Offset::Beginning,
            Offset::End,
            Offset::Stored,
            Offset::Invalid,
            Offset::Offset(0),
            Offset::Offset(1234),
            Offset::OffsetTail(5),
        ] {
            assert_eq!(Offset::from_raw(o.to_raw().unwrap()), o);
        }
        assert_eq!(Offset::OffsetTail(5).to_raw(), Some(-2005));
        assert_eq!(Offset::Offset(-3).to_raw(), None);
        assert_eq!(Offset::OffsetTail(0).to_raw(), None);
    }

    #[test]
    fn list_behaves_like_librdkafkas() {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("a", 0);
        assert_eq!(
            tpl.find_partition("a", 0).unwrap().offset(),
            Offset::Invalid
        );
        tpl.add_partition_offset("a", 1, Offset::Offset(7)).unwrap();
        tpl.add_partition_range("b", 0, 2);
        assert_eq!(tpl.count(), 5);
        assert_eq!(tpl.elements_for_topic("b").len(), 3);
        assert_eq!(
            tpl.set_partition_offset("c", 0, Offset::Offset(1)),
            Err(KafkaError::SetPartitionOffset(
                RDKafkaErrorCode::UnknownPartition
            ))
        );
        assert_eq!(
            tpl.set_partition_offset("a", 0, Offset::Offset(-5)),
            Err(KafkaError::SetPartitionOffset(
                RDKafkaErrorCode::InvalidArgument
            ))
        );
        for mut e in tpl.elements() {
            e.set_offset(Offset::Offset(42)).unwrap();
        }
        assert!(
            tpl.elements()
                .iter()
                .all(|e| e.offset() == Offset::Offset(42))
        );
        tpl.add_partition("m", 3).set_metadata("meta");
        tpl.set_partition_metadata("a", 1, "other").unwrap();
        assert_eq!(tpl.find_partition("m", 3).unwrap().metadata(), "meta");
        assert_eq!(tpl.find_partition("a", 1).unwrap().metadata(), "other");
        let map = tpl.to_topic_map();
        let back = TopicPartitionList::from_topic_map(&map).unwrap();
        assert_eq!(back.count(), map.len());
        let collected: TopicPartitionList = vec![(("t".to_owned(), 0), Offset::Offset(1))]
            .into_iter()
            .collect();
        assert_eq!(
            collected.find_partition("t", 0).unwrap().offset(),
            Offset::Offset(1)
        );
        assert_eq!(collected.clone(), collected);
        assert_ne!(collected, tpl);
        assert!(format!("{tpl:?}").contains("TopicPartitionListElem"));
    }
}
