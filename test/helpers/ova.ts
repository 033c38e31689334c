import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * An OVF descriptor as VMware's exports write one: References, DiskSection, and a virtual
 * system whose hardware attaches the disks (ResourceType 17) in `attachOrder`.
 */
export function ovfDescriptor(disks: { id: string; file: string; capacity: number }[], attachOrder = disks.map((d) => d.id)): string {
  const refs = disks.map((d, i) => `    <File ovf:href="${d.file}" ovf:id="file${i + 1}"/>`).join('\n');
  const section = disks
    .map(
      (d, i) =>
        `    <Disk ovf:capacity="${d.capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="${d.id}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`,
    )
    .join('\n');
  const items = attachOrder
    .map(
      (id, i) => `      <Item>
        <rasd:AddressOnParent>${i}</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk ${i + 1}</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/${id}</rasd:HostResource>
        <rasd:InstanceID>${10 + i}</rasd:InstanceID>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
${refs}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${section}
  </DiskSection>
  <VirtualSystem ovf:id="appliance">
    <Info>A virtual machine</Info>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
${items}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** An OVA as ovftool lays one out: `tar` (ustar) with the descriptor first, then the disks. */
export function makeOva(dir: string, name: string, ovf: string, files: string[]): string {
  const work = join(dir, `${name}.d`);
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, `${name}.ovf`), ovf);
  for (const f of files) copyFileSync(f, join(work, basename(f)));
  const ova = join(dir, `${name}.ova`);
  execFileSync('tar', ['--format=ustar', '-cf', ova, '-C', work, `${name}.ovf`, ...files.map((f) => basename(f))]);
  return ova;
}
