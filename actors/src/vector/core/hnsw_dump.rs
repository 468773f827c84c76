//! Graph snapshots in hnsw_rs's dump format (`<name>.hnsw.graph` + `<name>.hnsw.data`,
//! format 4, full mode), so a collection's graph can be opened by hnsw_rs itself; it is
//! read back with hnsw_rs's `HnswIo` and its lists copied into an [`HnswGraph`].
//!
//! Layout, native endian as hnsw_rs writes it: a description (magic, mode, `m`, level
//! scale, 16 layers, `ef_construction`, point count, dimension, distance and value type
//! names); then per layer its points, each with its slot, `(level, rank in level)` and for
//! each of the 16 layers its neighbours as `(slot, level, rank, distance)`; then the entry
//! point. The data file holds each point's vector in the same order.

use std::any::type_name;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;

use super::distance::GraphDistance;
use super::hnsw_graph::{HnswGraph, MAX_LEVEL};
use super::hnsw_walk::Space;

const MAGIC_DESCRIPTION: u32 = 0x002a_6779;
const MAGIC_LAYER: u32 = 0x000a_676f;
const MAGIC_POINT: u32 = 0x000a_678f;
const MAGIC_DATA: u32 = 0xa67f_0000;
/// hnsw_rs's dumps always hold this many layers.
const LAYERS: u8 = MAX_LEVEL + 1;
/// hnsw_rs's "full" dump mode: neighbours carry their `(level, rank)`.
const FULL_MODE: u8 = 1;

/// Writes `graph` over `space` as `dir/<name>.hnsw.{graph,data}` and syncs both files.
pub(crate) fn write_dump(
    graph: &HnswGraph,
    space: &Space<'_>,
    dir: &Path,
    name: &str,
) -> io::Result<()> {
    let Some((entry, _)) = graph.entry() else {
        return Err(io::Error::other("an empty graph has no dump"));
    };
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    let m = u8::try_from(graph.m()).map_err(|_| invalid("m above 255"))?;
    // hnsw_rs names each point by its level and its rank among that level's points.
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); usize::from(LAYERS)];
    let mut rank = Vec::with_capacity(graph.len());
    for slot in 0..graph.len() {
        let level = usize::from(graph.level(slot));
        rank.push(i32::try_from(members[level].len()).map_err(|_| invalid("too many points"))?);
        members[level].push(u32::try_from(slot).map_err(|_| invalid("too many points"))?);
    }
    let graph_path = dir.join(format!("{name}.hnsw.graph"));
    let data_path = dir.join(format!("{name}.hnsw.data"));
    let mut g = BufWriter::new(File::create(&graph_path)?);
    let mut d = BufWriter::new(File::create(&data_path)?);

    g.write_all(&MAGIC_DESCRIPTION.to_ne_bytes())?;
    g.write_all(&[FULL_MODE, m])?;
    // hnsw_rs reads this as a factor on its default scale 1 / ln(m), which is ours.
    g.write_all(&1.0f64.to_ne_bytes())?;
    g.write_all(&[LAYERS])?;
    g.write_all(&graph.ef_construction().to_ne_bytes())?;
    g.write_all(&graph.len().to_ne_bytes())?;
    g.write_all(&space.dim.to_ne_bytes())?;
    for text in [type_name::<GraphDistance>(), type_name::<f32>()] {
        g.write_all(&text.len().to_ne_bytes())?;
        g.write_all(text.as_bytes())?;
    }
    d.write_all(&MAGIC_DATA.to_ne_bytes())?;
    d.write_all(&space.dim.to_ne_bytes())?;

    let name_of = |s: u32| -> Vec<u8> {
        let mut out = (s as usize).to_ne_bytes().to_vec();
        out.push(graph.level(s as usize));
        out.extend_from_slice(&rank[s as usize].to_ne_bytes());
        out
    };
    g.write_all(&[LAYERS])?;
    for layer in &members {
        g.write_all(&MAGIC_LAYER.to_ne_bytes())?;
        g.write_all(&layer.len().to_ne_bytes())?;
        for &slot in layer {
            let v = space
                .vector(slot)
                .ok_or_else(|| invalid("slot without vector"))?;
            g.write_all(&MAGIC_POINT.to_ne_bytes())?;
            g.write_all(&name_of(slot))?;
            for l in 0..LAYERS {
                let links = if l <= graph.level(slot as usize) {
                    graph.link_ids(slot, l)
                } else {
                    Vec::new()
                };
                g.write_all(&links.len().to_ne_bytes())?;
                for n in links {
                    let to = space
                        .vector(n)
                        .ok_or_else(|| invalid("link without vector"))?;
                    g.write_all(&name_of(n))?;
                    g.write_all(&space.metric.eval(v, to).to_ne_bytes())?;
                }
            }
            d.write_all(&MAGIC_DATA.to_ne_bytes())?;
            d.write_all(&u64::from(slot).to_ne_bytes())?;
            d.write_all(&(std::mem::size_of_val(v) as u64).to_ne_bytes())?;
            for x in v {
                d.write_all(&x.to_ne_bytes())?;
            }
        }
    }
    g.write_all(&name_of(entry))?;
    for (w, path) in [(g, graph_path), (d, data_path)] {
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Reads `dir/<name>.hnsw.*` with hnsw_rs and copies its lists into a graph over `slots`
/// points with `m` links per node.
pub(crate) fn read_dump(
    dir: &Path,
    name: &str,
    metric: GraphDistance,
    slots: usize,
    ef_construction: usize,
    m: usize,
) -> Result<HnswGraph, String> {
    let io = HnswIo::new(dir, name);
    // hnsw_rs asserts (panics) on malformed files; a bad dump must only cost a rebuild.
    let loaded: Hnsw<'_, f32, GraphDistance> =
        catch_unwind(AssertUnwindSafe(|| io.load_hnsw_with_dist(metric)))
            .map_err(|_| "hnsw_rs panicked while loading".to_string())?
            .map_err(|e| e.to_string())?;
    if loaded.get_nb_point() != slots {
        return Err(format!(
            "graph has {} points, the store {slots}",
            loaded.get_nb_point()
        ));
    }
    let index = loaded.get_point_indexation();
    let mut levels: Vec<Option<u8>> = vec![None; slots];
    let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); slots];
    let mut entry = None;
    let top = usize::from(index.get_max_level_observed().min(MAX_LEVEL));
    for layer in (0..=top).rev() {
        for point in index.get_layer_iterator(layer) {
            let slot = point.get_origin_id();
            let level = point.get_point_id().0;
            match levels.get_mut(slot) {
                Some(place @ None) => *place = Some(level),
                _ => return Err(format!("point {slot} is out of range or twice in the dump")),
            }
            entry = entry.or(u32::try_from(slot).ok().map(|s| (s, level)));
            lists[slot] = point
                .get_neighborhood_id()
                .iter()
                .take(usize::from(level) + 1)
                .map(|l| {
                    l.iter()
                        .filter_map(|n| u32::try_from(n.d_id).ok())
                        .collect()
                })
                .collect();
        }
    }
    let levels: Vec<u8> = levels
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("the dump misses points")?;
    if lists
        .iter()
        .flatten()
        .flatten()
        .any(|&n| n as usize >= slots)
    {
        return Err("a link points past the last point".into());
    }
    let mut graph = HnswGraph::new(m, ef_construction);
    graph.grow(slots, Some(&levels));
    for (slot, lists) in lists.iter().enumerate() {
        if let Ok(slot) = u32::try_from(slot) {
            graph.set_lists(slot, lists);
        }
    }
    graph.set_entry(entry);
    Ok(graph)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::vector::core::Metric;

    /// Deterministic vectors in the unit cube, from a linear congruential generator.
    fn vectors(n: usize, dim: usize) -> Vec<f32> {
        let mut state = 12_345u64;
        (0..n * dim)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    #[test]
    fn a_dump_reads_back_with_every_level_list_and_the_entry() {
        let metric = GraphDistance::new(Metric::Euclid);
        let data = vectors(1_200, 8);
        let space = Space {
            metric: &metric,
            vectors: &data,
            dim: 8,
        };
        let mut graph = HnswGraph::new(6, 40);
        graph.insert(&space, 0..1_200);
        assert!(
            (0..1_200).any(|s| graph.level(s) >= 2),
            "the test wants upper layers"
        );
        let dir = tempfile::tempdir().unwrap();
        write_dump(&graph, &space, dir.path(), "g").unwrap();
        let back = read_dump(dir.path(), "g", metric, 1_200, 40, 6).unwrap();
        assert_eq!(back.len(), 1_200);
        let top = graph.entry().unwrap().1;
        assert_eq!(back.entry().map(|e| e.1), Some(top));
        assert_eq!(back.level(back.entry().unwrap().0 as usize), top);
        for slot in 0..1_200u32 {
            assert_eq!(back.level(slot as usize), graph.level(slot as usize));
            for layer in 0..=graph.level(slot as usize) {
                // hnsw_rs sorts each list by distance on load; the sets must match.
                let mut want = graph.link_ids(slot, layer);
                let mut got = back.link_ids(slot, layer);
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, want, "slot {slot} layer {layer}");
            }
        }
        assert!(read_dump(dir.path(), "g", metric, 1_199, 40, 6).is_err());
    }

    #[test]
    fn a_dump_written_by_hnsw_rs_itself_loads_and_is_searchable() {
        use hnsw_rs::api::AnnT;
        // Collections snapshotted before this module existed hold hnsw_rs's own dumps.
        let metric = GraphDistance::new(Metric::Euclid);
        let data = vectors(800, 8);
        let theirs: Hnsw<'_, f32, GraphDistance> = Hnsw::new(6, 800, 16, 40, metric);
        for (slot, v) in data.chunks(8).enumerate() {
            theirs.insert_slice((v, slot));
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(theirs.file_dump(dir.path(), "old").unwrap(), "old");
        let back = read_dump(dir.path(), "old", metric, 800, 40, 6).unwrap();
        let space = Space {
            metric: &metric,
            vectors: &data,
            dim: 8,
        };
        for (slot, v) in data.chunks(8).enumerate().step_by(40) {
            assert_eq!(back.search(&space, v, 10, None).first(), Some(&slot));
        }
    }
}
