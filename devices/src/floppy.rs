//! Wires the ISA DMA controllers, the floppy controller with its drives and the FPU error port
//! into a `System`, as on a PC/AT.

use emu_core::{DeviceId, Error, System};

use crate::fdc82077::{Fdc82077, FloppyDisk, FDC_BASE, FDC_DIR_PORT, FDC_MAIN_PORTS, REGION_DIR, REGION_MAIN};
use crate::fpu_error::{FpuErrorLatch, FPU_ERROR_PORT};
use crate::i8237::{
    Dma8237, DMA1_BASE, DMA1_PORTS, DMA2_BASE, DMA2_PORTS, PAGE_BASE, PAGE_PORTS, REGION_DMA1, REGION_DMA2, REGION_PAGE,
};

/// The devices [`attach_dma_and_floppy`] added.
#[derive(Debug, Clone, Copy)]
pub struct FloppyDevices {
    pub dma: DeviceId,
    pub fdc: DeviceId,
    pub fpu_error: DeviceId,
}

/// Adds the 8237A pair with its page registers, the 82077AA (IRQ 6, DMA channel 2) with
/// `drives` (drive 0 then drive 1; `None` leaves a drive out) and the port 0xF0 latch.
pub fn attach_dma_and_floppy(sys: &mut System, drives: [Option<FloppyDisk>; 2]) -> Result<FloppyDevices, Error> {
    let dma_dev = Dma8237::new();
    let channels = dma_dev.channels();
    let dma = sys.add_device(Box::new(dma_dev));
    sys.map_io(DMA1_BASE, DMA1_PORTS, dma, REGION_DMA1)?;
    sys.map_io(DMA2_BASE, DMA2_PORTS, dma, REGION_DMA2)?;
    sys.map_io(PAGE_BASE, PAGE_PORTS, dma, REGION_PAGE)?;

    let mut fdc = Fdc82077::new(sys.lines.clone(), channels);
    for (n, disk) in drives.into_iter().enumerate() {
        if let Some(disk) = disk {
            fdc.insert(n, disk);
        }
    }
    let fdc = sys.add_device(Box::new(fdc));
    sys.map_io(FDC_BASE, FDC_MAIN_PORTS, fdc, REGION_MAIN)?;
    sys.map_io(FDC_DIR_PORT, 1, fdc, REGION_DIR)?;

    let fpu_error = sys.add_device(Box::new(FpuErrorLatch::new(sys.lines.clone())));
    sys.map_io(FPU_ERROR_PORT, 1, fpu_error, 0)?;
    Ok(FloppyDevices { dma, fdc, fpu_error })
}
