//! A plotters backend for tests that draws nothing and records every text
//! a chart draws with the box it occupies, so a test reads a chart's ticks,
//! legend entries and titles (and whether they fit) through the drawing
//! layer instead of comparing pixels.

use plotters::prelude::*;
use plotters_backend::{
    BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind, FontTransform,
};

/// One text as drawn: its string and its box in pixels.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub text: String,
    pub left: i32,
    pub right: i32,
    /// Drawn turned (the y-axis description): its box is not checked.
    pub turned: bool,
}

/// The texts a [`Recorder`] has seen, kept by the test while the drawing
/// area owns the recorder.
pub type Log = std::rc::Rc<std::cell::RefCell<Vec<Drawn>>>;

pub struct Recorder {
    size: (u32, u32),
    texts: Log,
}

impl Recorder {
    pub fn new(size: (u32, u32)) -> (Recorder, Log) {
        let texts = Log::default();
        let recorder = Recorder {
            size,
            texts: texts.clone(),
        };
        (recorder, texts)
    }
}

impl DrawingBackend for Recorder {
    type ErrorType = std::convert::Infallible;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }

    fn draw_pixel(
        &mut self,
        _: BackendCoord,
        _: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let ((min_x, _), (max_x, _)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let width = max_x - min_x;
        let left = match style.anchor().h_pos {
            plotters_backend::text_anchor::HPos::Left => pos.0,
            plotters_backend::text_anchor::HPos::Right => pos.0 - width,
            plotters_backend::text_anchor::HPos::Center => pos.0 - width / 2,
        };
        self.texts.borrow_mut().push(Drawn {
            text: text.to_string(),
            left,
            right: left + width,
            turned: !matches!(style.transform(), FontTransform::None),
        });
        Ok(())
    }
}
