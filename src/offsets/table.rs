//! The aligned text tables the offset commands print: columns padded to
//! their widest cell, two spaces apart, the last column left as it is.

/// `header` and `rows` as lines of aligned columns, each ending in `\n`.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let lines: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows.iter().cloned())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == l.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let t = super::render(
            &["A", "LONG HEADER", "NOTE"],
            &[vec!["xyz".into(), "1".into(), "free text".into()]],
        );
        assert_eq!(t, "A    LONG HEADER  NOTE\nxyz  1            free text\n");
    }
}
