//! The PC's interrupt controller and timers, wired as on a PC/AT: the 8259A pair at 0x20/0xA0
//! with its ELCR at 0x4D0 driving the CPU's INTR pin, and the 8254 at 0x40-0x43 with port 0x61,
//! its counter 0 on IRQ0.

use emu_core::{DeviceId, Error, System};

use crate::pic8259::{
    Pic8259, ELCR_BASE, ELCR_PORTS, PIC_MASTER_BASE, PIC_PORTS, PIC_SLAVE_BASE, REGION_ELCR, REGION_MASTER,
    REGION_SLAVE,
};
use crate::pit8254::{Pit8254, PIT_BASE, PIT_PORTS, REGION_PIT, REGION_PORT61};
use crate::port61::PORT61;

/// Adds the 8259A pair (and makes it the system's interrupt controller) and the 8254 with port
/// 0x61. Returns `(pic, pit)`.
pub fn attach_pc_timers_and_pic(sys: &mut System) -> Result<(DeviceId, DeviceId), Error> {
    let pic = Pic8259::new(sys.lines.clone());
    let pic = sys.add_device(Box::new(pic));
    sys.map_io(PIC_MASTER_BASE, PIC_PORTS, pic, REGION_MASTER)?;
    sys.map_io(PIC_SLAVE_BASE, PIC_PORTS, pic, REGION_SLAVE)?;
    sys.map_io(ELCR_BASE, ELCR_PORTS, pic, REGION_ELCR)?;
    sys.set_interrupt_controller(pic);

    let pit = Pit8254::new(sys.lines.clone(), sys.clock.handle());
    let pit = sys.add_device(Box::new(pit));
    sys.map_io(PIT_BASE, PIT_PORTS, pit, REGION_PIT)?;
    sys.map_io(PORT61, 1, pit, REGION_PORT61)?;
    Ok((pic, pit))
}
