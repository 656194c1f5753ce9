//! Data shared by the finetuning tests.

use flip_data::SplitData;

/// Rows whose label is 1 when token 20 appears in the prompt (and the id of field 0 is 4).
pub fn text_signal_data(rows: usize, seed: u64) -> SplitData {
    let mut d = SplitData {
        num_fields: 2,
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for r in 0..rows {
        let positive = (r as u64 * 7 + seed).is_multiple_of(3);
        d.ids
            .extend([if positive { 4 } else { 3 }, 13 + (r % 3) as u32]);
        d.labels.push(u8::from(positive));
        d.tokens.extend([
            2,
            30 + (r % 5) as u32,
            if positive { 20 } else { 21 },
            40,
            3,
        ]);
        d.token_fields.extend([-1, 0, 1, -1, -1]);
        d.token_offsets.push(d.tokens.len());
        d.source_rows.push(r as u32);
    }
    d
}
