//! `--stats`: what the run did, printed to stderr at exit.

use crate::Machine;
use std::fmt::Write;
use std::time::Duration;

/// The statistics report: guest instructions and MIPS, TLB fills, and the JIT's counters.
pub fn report(m: &Machine, elapsed: Duration) -> String {
    let mut s = String::new();
    let insns = m.cpu.s.icount;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(s, "emu stats:");
    let _ = writeln!(s, "  guest instructions   {insns}");
    let _ = writeln!(s, "  host time            {:.3} s", elapsed.as_secs_f64());
    let _ = writeln!(s, "  guest MIPS           {:.1}", insns as f64 / secs / 1e6);
    // Fills are the TLB's misses (counted on the slow path, which is cheap). Hits are not
    // counted: that would add an increment to every inlined fast-path access, so the miss rate
    // is given per million guest instructions instead of per access.
    let _ = writeln!(
        s,
        "  TLB fills (misses)   {} ({:.1} per million instructions)",
        m.cpu.tlb.fills,
        m.cpu.tlb.fills as f64 * 1e6 / insns.max(1) as f64
    );
    match &m.jit {
        None => {
            let _ = writeln!(s, "  tier                 interpreter");
        }
        Some(j) => {
            let st = &j.stats;
            let hits = st.fast_hits + st.map_hits;
            let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
            let _ = writeln!(s, "  tier                 jit");
            let _ = writeln!(
                s,
                "  blocks compiled      {} ({} host bytes, {:.1} ms, {:.1} us/block, {} optimized)",
                st.blocks_compiled,
                st.host_bytes,
                st.compile_time.as_secs_f64() * 1e3,
                st.compile_time.as_secs_f64() * 1e6 / st.blocks_compiled.max(1) as f64,
                st.blocks_optimized
            );
            let _ = writeln!(
                s,
                "  block cache hits     {hits} of {} lookups ({:.1}%; {} in the direct-mapped array)",
                st.lookups,
                pct(hits, st.lookups),
                st.fast_hits
            );
            if j.counts_in_code() {
                let _ = writeln!(
                    s,
                    "  blocks run           {} ({:.1} instructions/block; {} chained without a lookup)",
                    st.block_runs,
                    st.jit_insns as f64 / st.block_runs.max(1) as f64,
                    st.chained
                );
            } else {
                // Chained runs are counted in translated code only with --stats=full.
                let _ = writeln!(
                    s,
                    "  blocks entered       {} by the dispatcher ({:.1} instructions each, chained blocks included; --stats=full counts the blocks run)",
                    st.block_runs,
                    st.jit_insns as f64 / st.block_runs.max(1) as f64,
                );
                let _ = writeln!(
                    s,
                    "  TLB slow path        {} accesses in translated code (misses, MMIO, page-crossing; --stats=full gives the hit rate)",
                    st.inline_slow
                );
            }
            if let Some(rate) = st.tlb_hit_rate() {
                let _ = writeln!(
                    s,
                    "  TLB hit rate         {:.2}% of {} inlined accesses in translated code ({} slow path)",
                    rate * 100.0,
                    st.inline_accesses,
                    st.inline_slow
                );
            }
            let _ = writeln!(
                s,
                "  instructions         {:.1}% in translated code, {} interpreted",
                pct(st.jit_insns, insns),
                st.interp_steps
            );
            let top = j.interp_in_blocks_top(10);
            if !top.is_empty() {
                let list: Vec<String> = top.iter().map(|(m, n)| format!("{} {n}", m.name())).collect();
                let _ = writeln!(
                    s,
                    "  interpreter calls    {} from translated blocks; most: {}",
                    st.interp_in_blocks,
                    list.join(", ")
                );
            }
            let _ = writeln!(
                s,
                "  invalidations        {} blocks on {} pages; {} full flushes; {} stores into code left to the interpreter",
                st.invalidated_blocks, st.invalidated_pages, st.flushes, st.redone
            );
            let _ = writeln!(
                s,
                "  hot pages            {} (invalidated too often: {} instructions left to the interpreter)",
                st.hot_pages, st.hot_insns
            );
            let _ = writeln!(
                s,
                "  warm-up              {} instructions interpreted in blocks not yet run often enough to translate ({} from decoded runs, which went on into {} more blocks)",
                st.warmup_insns, st.decoded_insns, st.run_blocks
            );
            if j.compiles_in_background() {
                let _ = writeln!(
                    s,
                    "  background compile   {} instructions interpreted while their block compiled; {} blocks dropped (written meanwhile); {:.1} ms waited; compile thread {:.1} ms CPU",
                    st.compiling_insns,
                    st.compiles_dropped,
                    st.compile_wait.as_secs_f64() * 1e3,
                    st.compile_thread_time.as_secs_f64() * 1e3
                );
            }
            if st.checked_blocks > 0 {
                let _ = writeln!(s, "  checked blocks       {}", st.checked_blocks);
            }
        }
    }
    s
}
