package dev.la2.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BackendsTest {

    @AfterEach
    void clearProperty() {
        System.clearProperty(Backends.PROPERTY);
    }

    @Test
    void discoversEveryProviderHighestPriorityFirstWithReasons() {
        List<BackendInfo> infos = Backends.discover();
        assertThat(infos).extracting(BackendInfo::name).containsExactly("ghost", "throwing", "loop");
        assertThat(infos.get(0).availability().toString())
                .isEqualTo("unavailable: no ghost device (libghost.so.1 not found) (install a ghost driver)");
        assertThat(infos.get(1).availability().toString()).contains("probe failed").contains("probe exploded");
        assertThat(infos.get(2).availability().isAvailable()).isTrue();
    }

    @Test
    void automaticSelectionSkipsUnavailableProviders() {
        try (LightningAttention la = LightningAttention.open()) {
            assertThat(la.backendName()).isEqualTo("loop");
        }
    }

    @Test
    void explicitUnavailableBackendFailsListingEveryProvider() {
        assertThatThrownBy(() -> LightningAttention.open("ghost"))
                .isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("backend 'ghost' is unavailable: no ghost device (libghost.so.1 not found)")
                .hasMessageContaining("ghost (priority 500")
                .hasMessageContaining("throwing (priority 400")
                .hasMessageContaining("loop (priority 10")
                .hasMessageContaining("available: test loop");
    }

    @Test
    void unknownBackendNameListsWhatExists() {
        assertThatThrownBy(() -> LightningAttention.open("tpu"))
                .isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("no backend named 'tpu'")
                .hasMessageNotContaining("comes with")
                .hasMessageContaining("loop (priority 10");
    }

    @Test
    void anAbsentBackendOfLa2NamesItsArtifact() {
        assertThatThrownBy(() -> LightningAttention.open("reference"))
                .isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("no backend named 'reference' (it comes with la2-reference: put that jar on the class path or the module path)")
                .hasMessageContaining("loop (priority 10");
        assertThatThrownBy(() -> LightningAttention.open("CUDA"))
                .hasMessageContaining("no backend named 'cuda' (it comes with la2-backend-cuda");
    }

    @Test
    void systemPropertySelectsTheBackend() {
        System.setProperty(Backends.PROPERTY, "ghost");
        assertThatThrownBy(LightningAttention::open).hasMessageContaining("backend 'ghost' is unavailable");
        System.setProperty(Backends.PROPERTY, "loop");
        try (LightningAttention la = LightningAttention.open()) {
            assertThat(la.backendName()).isEqualTo("loop");
        }
    }

    @Test
    void nameInCodeWinsOverTheProperty() {
        System.setProperty(Backends.PROPERTY, "ghost");
        try (LightningAttention la = LightningAttention.open("LOOP")) {
            assertThat(la.backendName()).isEqualTo("loop");
        }
    }
}
