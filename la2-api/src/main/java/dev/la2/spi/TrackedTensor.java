package dev.la2.spi;

import dev.la2.api.Tensor;

/**
 * A tensor whose contents change only through its backend (device memory, for example), so that a
 * stamp tells whether they changed. The facade uses it to validate decay rates once per version
 * and to recognise the inputs of a kept forward without reading them back from the device.
 */
public interface TrackedTensor extends Tensor {

    /**
     * A number that changes whenever the contents may have changed: a copy into the tensor, a fill,
     * or a call that writes it. Equal versions of one tensor mean equal contents.
     */
    long version();
}
