//! Generated placeholder product pictures: a PNG with the category's colour, a lighter
//! rounded panel and a pattern of dots that varies with a seed, so products look distinct.

/// A `width`×`height` RGB PNG for `colour`, varied by `seed`.
pub fn png(
    width: u32,
    height: u32,
    colour: [u8; 3],
    seed: u64,
) -> Result<Vec<u8>, png::EncodingError> {
    let (w, h) = (width as usize, height as usize);
    let light = colour.map(|c| c + (255 - c) / 2);
    let dark = colour.map(|c| c / 2);
    let dots = 3 + (seed % 5) as usize;
    let radius = (h / 10).max(2) as i64;
    let mut pixels = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let inset = w.min(h) / 8;
            let in_panel = x >= inset && x < w - inset && y >= inset && y < h - inset;
            let mut rgb = if in_panel { light } else { colour };
            for i in 0..dots {
                let cx = (inset + (i + 1) * (w - 2 * inset) / (dots + 1)) as i64;
                let cy = (h / 2) as i64 + ((seed >> (i * 3)) % 3) as i64 * radius - radius;
                let (dx, dy) = (x as i64 - cx, y as i64 - cy);
                if dx * dx + dy * dy <= radius * radius {
                    rgb = dark;
                }
            }
            pixels[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&rgb);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_valid_pngs_that_differ_by_seed() {
        let a = png(64, 48, [41, 128, 185], 1).expect("png");
        let b = png(64, 48, [41, 128, 185], 2).expect("png");
        assert_eq!(
            crate::catalog::images::sniff(&a),
            Some(crate::catalog::images::ImageKind::Png)
        );
        assert_ne!(a, b);
        assert_eq!(
            a,
            png(64, 48, [41, 128, 185], 1).expect("png"),
            "deterministic"
        );
    }
}
