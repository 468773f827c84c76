//! Stop sequences over a stream of text: text is released as soon as it cannot be the
//! start of a stop sequence, and generation ends before the first stop sequence found
//! (which is never sent), as OpenAI's API does.

/// Finds stop sequences in streamed text.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What [`StopMatcher::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    /// Text safe to send now.
    pub text: String,
    /// A stop sequence was reached: generation ends here.
    pub stopped: bool,
}

impl StopMatcher {
    /// A matcher for `stops` (none: everything passes at once).
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            held: String::new(),
        }
    }

    /// Takes the next piece of text.
    pub fn push(&mut self, piece: &str) -> Released {
        self.held.push_str(piece);
        let first = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first {
            let text = self.held[..at].to_string();
            self.held.clear();
            return Released {
                text,
                stopped: true,
            };
        }
        // Hold back the longest tail that could still become a stop sequence.
        let keep = self
            .stops
            .iter()
            .map(|s| longest_tail_that_starts(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let text = self.held[..cut].to_string();
        self.held.drain(..cut);
        Released {
            text,
            stopped: false,
        }
    }

    /// Whatever is still held back, once generation ends without a stop sequence.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length of the longest proper suffix of `text` (on a char boundary) that is a prefix
/// of `stop`.
fn longest_tail_that_starts(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            let at = text.len() - n;
            text.is_char_boundary(at) && stop.starts_with(&text[at..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            let r = m.push(p);
            out.push_str(&r.text);
            if r.stopped {
                return (out, true);
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn stops_before_a_sequence_split_across_pieces_and_releases_the_rest() {
        assert_eq!(
            run(&["\n\n"], &["Hello", "\n", "\nWorld"]),
            ("Hello".into(), true)
        );
        assert_eq!(run(&["END"], &["a E", "N", "x"]), ("a ENx".into(), false));
        assert_eq!(run(&["END", "ST"], &["xS", "ENDT"]), ("xS".into(), true));
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&["é!"], &["caf", "é", "!"]), ("caf".into(), true));
    }

    #[test]
    fn text_that_cannot_start_a_stop_is_released_at_once() {
        let mut m = StopMatcher::new(vec!["###".into()]);
        assert_eq!(m.push("ab#").text, "ab");
        assert_eq!(m.push("c").text, "#c");
    }
}
