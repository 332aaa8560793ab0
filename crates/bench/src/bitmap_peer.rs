//! The second peer design for `va_churn`: one bit per page, searched from the first page for
//! the first run of clear bits long enough (first fit), under one lock. Whole words are
//! skipped when full or empty, so the search is as fast as a bitmap search gets; its cost is
//! that it starts at the bottom every time and walks past the full part of the space.

use spin::Mutex;

use crate::va_churn::SpanAllocator;

/// One bit per page, set while allocated.
#[derive(Debug)]
pub struct FirstFitBitmap {
    words: Mutex<Vec<u64>>,
    pages: u64,
}

impl FirstFitBitmap {
    /// All of `[0, pages)` free.
    pub fn new(pages: u64) -> Self {
        let mut words = vec![0u64; pages.div_ceil(64) as usize];
        // Bits past the end are set, so no run reaches beyond the space.
        if pages % 64 != 0
            && let Some(last) = words.last_mut()
        {
            *last = !0 << (pages % 64);
        }
        Self { words: Mutex::new(words), pages }
    }

    /// Pages in the space.
    pub fn pages(&self) -> u64 {
        self.pages
    }
}

/// The first run of `pages` clear bits in `words`.
fn first_fit(words: &[u64], pages: u64) -> Option<u64> {
    let (mut run_start, mut run_length) = (0u64, 0u64);
    for (index, &word) in words.iter().enumerate() {
        let word_start = index as u64 * 64;
        if word == 0 {
            if run_length == 0 {
                run_start = word_start;
            }
            run_length += 64;
        } else if word == !0 {
            run_length = 0;
        } else {
            let mut bit = 0u32;
            while bit < 64 {
                let rest = word >> bit;
                let clear = if rest == 0 { 64 - bit } else { rest.trailing_zeros() };
                if clear > 0 {
                    if run_length == 0 {
                        run_start = word_start + u64::from(bit);
                    }
                    run_length += u64::from(clear);
                    if run_length >= pages {
                        return Some(run_start);
                    }
                    bit += clear;
                }
                if bit < 64 {
                    run_length = 0;
                    bit += (word >> bit).trailing_ones();
                }
            }
            continue;
        }
        if run_length >= pages {
            return Some(run_start);
        }
    }
    None
}

/// Sets (`value`) or clears the bits `[start, start + pages)`.
fn fill(words: &mut [u64], start: u64, pages: u64, value: bool) {
    let mut at = start;
    let end = start + pages;
    while at < end {
        let bit = at % 64;
        let count = (64 - bit).min(end - at);
        let mask = if count == 64 { !0 } else { ((1u64 << count) - 1) << bit };
        let word = &mut words[(at / 64) as usize];
        if value {
            *word |= mask;
        } else {
            *word &= !mask;
        }
        at += count;
    }
}

impl SpanAllocator for FirstFitBitmap {
    fn allocate(&self, pages: u64) -> Option<u64> {
        let mut words = self.words.lock();
        let start = first_fit(&words, pages)?;
        fill(&mut words, start, pages, true);
        Some(start)
    }

    fn free(&self, start: u64, pages: u64) {
        fill(&mut self.words.lock(), start, pages, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_run_across_word_boundaries() {
        let bitmap = FirstFitBitmap::new(200);
        assert_eq!(bitmap.pages(), 200);
        assert_eq!(bitmap.allocate(60), Some(0));
        assert_eq!(bitmap.allocate(10), Some(60), "a run that crosses into the second word");
        assert_eq!(bitmap.allocate(3), Some(70));
        bitmap.free(60, 10);
        assert_eq!(bitmap.allocate(11), Some(73), "the 10-page hole is too small");
        assert_eq!(bitmap.allocate(10), Some(60), "first fit goes back to the hole");
        assert_eq!(bitmap.allocate(200 - 84 + 1), None, "bits past the end are never free");
        assert_eq!(bitmap.allocate(200 - 84), Some(84));
        assert_eq!(bitmap.allocate(1), None);
    }

    #[test]
    fn agrees_with_a_plain_bit_by_bit_search() {
        let bitmap = FirstFitBitmap::new(1000);
        let mut model = vec![false; 1000];
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut live = Vec::new();
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed % 3 != 0 {
                let pages = 1 + seed % 70;
                let expected =
                    (0..=1000 - pages as usize).find(|&s| model[s..s + pages as usize].iter().all(|&b| !b));
                let got = bitmap.allocate(pages);
                assert_eq!(got, expected.map(|s| s as u64));
                if let Some(start) = got {
                    model[start as usize..(start + pages) as usize].fill(true);
                    live.push((start, pages));
                }
            } else if !live.is_empty() {
                let (start, pages) = live.swap_remove((seed / 3) as usize % live.len());
                bitmap.free(start, pages);
                model[start as usize..(start + pages) as usize].fill(false);
            }
        }
    }
}
