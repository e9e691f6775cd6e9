// Everything a host needs from the NetCPU core.
#pragma once

#include "netcpu/assembler.h"
#include "netcpu/bytecode.h"
#include "netcpu/checksum.h"
#include "netcpu/clock.h"
#include "netcpu/control.h"
#include "netcpu/diagnostic.h"
#include "netcpu/disassembler.h"
#include "netcpu/isa.h"
#include "netcpu/packet_summary.h"
#include "netcpu/packet_view.h"
#include "netcpu/program.h"
#include "netcpu/table.h"
#include "netcpu/timer_schedule.h"
#include "netcpu/verifier.h"
#include "netcpu/vm.h"
